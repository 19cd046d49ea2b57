// A go-zookeeper contender for zkfast's interop tests (tests/server/test_interop_go.py).
//
//	gopeer <host:port> <path> <instances>
//
// Each instance is one zk.NewLock(conn, path) on a shared connection, numbered from 0.
// The command protocol is CuratorPeer.java's (see there), for locks only: READY once
// connected, then an answer to each stdin line; each instance runs its commands in
// order on a goroutine of its own, so one waiting instance does not hold up another:
//
//	now                     NOW <t>
//	acquire <i> -1          ACQUIRED <i> <t>   (zk.Lock has no timeout)
//	release <i>             RELEASED <i> <t>   (t: just before unlocking)
//	loop <rounds> <hold_ms> <pause_ms>
//	                        LOOPING, then HELD <i> W <t0> <t1> per hold, then DONE
//	quit                    BYE
//
// Times are CLOCK_MONOTONIC read with clock_gettime(2): Go's own monotonic clock
// counts from process start, but the test compares holds across processes.
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build (Debian's
// golang-github-samuel-go-zookeeper-dev).
package main

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/samuel/go-zookeeper/zk"
)

const clockMonotonic = 1 // CLOCK_MONOTONIC in <time.h>

var outMu sync.Mutex

func say(format string, args ...interface{}) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

func now() int64 {
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic,
		uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		panic(errno)
	}
	return ts.Nano()
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: gopeer <host:port> <path> <instances>")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	conn, events, err := zk.Connect([]string{os.Args[1]}, 10*time.Second)
	if err != nil {
		say("ERROR connect: %v", err)
		os.Exit(1)
	}
	for ev := range events { // wait for the session before saying READY
		if ev.State == zk.StateHasSession {
			break
		}
	}
	go func() { // keep draining session events
		for range events {
		}
	}()
	locks := make([]*zk.Lock, n)
	queues := make([]chan func(), n) // each instance's commands, run in order
	for i := range locks {
		locks[i] = zk.NewLock(conn, os.Args[2], zk.WorldACL(zk.PermAll))
		queues[i] = make(chan func(), 16)
		go func(q chan func()) {
			for f := range q {
				f()
			}
		}(queues[i])
	}
	say("READY")

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		w := strings.Fields(in.Text())
		if len(w) == 0 {
			continue
		}
		switch w[0] {
		case "now":
			say("NOW %d", now())
		case "acquire":
			i, _ := strconv.Atoi(w[1])
			if w[2] != "-1" {
				say("ERROR zk.Lock has no timeout")
				continue
			}
			queues[i] <- func() {
				if err := locks[i].Lock(); err != nil {
					say("ERROR acquire %d: %v", i, err)
					return
				}
				say("ACQUIRED %d %d", i, now())
			}
		case "release":
			i, _ := strconv.Atoi(w[1])
			queues[i] <- func() {
				t := now()
				if err := locks[i].Unlock(); err != nil {
					say("ERROR release %d: %v", i, err)
					return
				}
				say("RELEASED %d %d", i, t)
			}
		case "loop":
			rounds, _ := strconv.Atoi(w[1])
			holdMs, _ := strconv.Atoi(w[2])
			pauseMs, _ := strconv.Atoi(w[3])
			loop(locks, queues, rounds, time.Duration(holdMs)*time.Millisecond, pauseMs)
		case "quit":
			conn.Close()
			say("BYE")
			os.Exit(0)
		default:
			say("ERROR unknown command %q", in.Text())
		}
	}
	conn.Close()
}

// loop has every lock, on its own goroutine, lock, hold and unlock rounds times,
// pausing a random 0..pauseMs between rounds.
func loop(locks []*zk.Lock, queues []chan func(), rounds int, hold time.Duration, pauseMs int) {
	var wg sync.WaitGroup
	for i, l := range locks {
		i, l := i, l
		wg.Add(1)
		queues[i] <- func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				if err := l.Lock(); err != nil {
					say("ERROR %d round %d: %v", i, r, err)
					return
				}
				t0 := now()
				time.Sleep(hold)
				t1 := now()
				if err := l.Unlock(); err != nil {
					say("ERROR %d round %d: %v", i, r, err)
					return
				}
				say("HELD %d W %d %d", i, t0, t1)
				time.Sleep(time.Duration(rand.Intn(pauseMs+1)) * time.Millisecond)
			}
		}
	}
	say("LOOPING")
	go func() {
		wg.Wait()
		say("DONE")
	}()
}
