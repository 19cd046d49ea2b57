// A Curator contender for zkfast's interop tests (tests/server/test_interop_curator.py).
//
//   java -cp <classes>:<curator jars> CuratorPeer <connect string> <path> <kind>[,<kind>...]
//
// Each kind is one recipe instance on <path>, numbered from 0:
//   mutex          InterProcessMutex
//   read | write   InterProcessReadWriteLock's readLock() / writeLock()
//   semaphore:N    InterProcessSemaphoreV2 with N leases
//   latch          LeaderLatch (a fresh latch per acquisition; release closes it)
//
// It prints READY once connected, then answers each command on stdin with a line:
//   now                     NOW <t>
//   acquire <i> <ms>        ACQUIRED <i> <t> | TIMEOUT <i>      (ms < 0: wait forever)
//   release <i>             RELEASED <i> <t>                    (t: just before releasing)
//   loop <rounds> <hold_ms> <pause_ms>
//                           LOOPING, then per hold HELD <i> <role> <t0> <t1>, then DONE:
//                           every instance acquires, holds and releases, rounds times,
//                           pausing a random 0..pause_ms between rounds (so the line
//                           does not settle into one fixed round-robin order)
//   quit                    BYE, and exits
// Every instance runs its commands, in order, on a thread of its own (a Curator lock
// belongs to the thread that took it), so a command waiting for one instance does not
// hold up the others; answers of different instances may come in any order.
// Times are System.nanoTime(), which is CLOCK_MONOTONIC on Linux: the clock the test
// process and the go peer read, so holds of all three can be compared. A failure
// prints ERROR <message>.

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.retry.RetryNTimes;

public final class CuratorPeer {
    private static final PrintStream OUT =
        new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);

    private static synchronized void say(String line) {
        OUT.println(line);
        OUT.flush();
    }

    /** One recipe instance: the same acquire/release shape for every Curator recipe. */
    private static final class Contender {
        final int index;
        final String kind;
        final CuratorFramework client;
        final String path;
        /** The one thread this instance's commands run on, in order. */
        final ExecutorService thread;
        InterProcessMutex mutex;          // mutex
        InterProcessReadWriteLock rw;     // read, write
        InterProcessSemaphoreV2 semaphore;
        Lease lease;
        LeaderLatch latch;

        Contender(int index, String kind, CuratorFramework client, String path) {
            this.index = index;
            this.kind = kind;
            this.client = client;
            this.path = path;
            this.thread = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "contender-" + index);
                t.setDaemon(true);
                return t;
            });
            if (kind.equals("mutex")) {
                mutex = new InterProcessMutex(client, path);
            } else if (kind.equals("read") || kind.equals("write")) {
                rw = new InterProcessReadWriteLock(client, path);
            } else if (kind.startsWith("semaphore:")) {
                int leases = Integer.parseInt(kind.substring("semaphore:".length()));
                semaphore = new InterProcessSemaphoreV2(client, path, leases);
            } else if (!kind.equals("latch")) {
                throw new IllegalArgumentException("unknown kind " + kind);
            }
        }

        /** The letter a HELD line carries: R for a reader, W for anything exclusive. */
        String role() {
            return kind.equals("read") ? "R" : kind.startsWith("semaphore") ? "S" : "W";
        }

        /** True once held; false when {@code ms} (>= 0) passed first. */
        boolean acquire(long ms) throws Exception {
            if (mutex != null || rw != null) {
                InterProcessMutex m = mutex != null ? mutex
                    : kind.equals("read") ? rw.readLock() : rw.writeLock();
                if (ms < 0) {
                    m.acquire();
                    return true;
                }
                return m.acquire(ms, TimeUnit.MILLISECONDS);
            }
            if (semaphore != null) {
                lease = ms < 0 ? semaphore.acquire() : semaphore.acquire(ms, TimeUnit.MILLISECONDS);
                return lease != null;
            }
            if (latch == null) {  // a timed-out latch stays in line; the next acquire waits on
                latch = new LeaderLatch(client, path, "curator-" + index);
                latch.start();
            }
            if (ms < 0) {
                latch.await();
                return true;
            }
            return latch.await(ms, TimeUnit.MILLISECONDS);
        }

        void release() throws Exception {
            if (mutex != null) {
                mutex.release();
            } else if (rw != null) {
                InterProcessMutex m = kind.equals("read") ? rw.readLock() : rw.writeLock();
                m.release();
            } else if (semaphore != null) {
                semaphore.returnLease(lease);
                lease = null;
            } else {
                LeaderLatch l = latch;
                latch = null;
                l.close();
            }
        }

        /** For a latch: still leading at the end of a hold (a lost leadership is a failure). */
        boolean stillHeld() {
            return latch == null || latch.hasLeadership();
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: CuratorPeer <connect string> <path> <kind>[,<kind>...]");
            System.exit(2);
        }
        CuratorFramework client = CuratorFrameworkFactory.newClient(
            args[0], 10_000, 10_000, new RetryNTimes(50, 200));
        client.start();
        if (!client.blockUntilConnected(60, TimeUnit.SECONDS)) {
            say("ERROR could not connect to " + args[0]);
            System.exit(1);
        }
        List<Contender> contenders = new ArrayList<>();
        String[] kinds = args[2].split(",");
        for (int i = 0; i < kinds.length; i++) {
            contenders.add(new Contender(i, kinds[i], client, args[1]));
        }
        say("READY");

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] w = line.trim().split("\\s+");
            String command = line;
            try {
                switch (w[0]) {
                    case "now":
                        say("NOW " + System.nanoTime());
                        break;
                    case "acquire": {
                        Contender c = contenders.get(Integer.parseInt(w[1]));
                        long ms = Long.parseLong(w[2]);
                        c.thread.submit(() -> {
                            try {
                                if (c.acquire(ms)) {
                                    say("ACQUIRED " + c.index + " " + System.nanoTime());
                                } else {
                                    say("TIMEOUT " + c.index);
                                }
                            } catch (Exception e) {
                                say("ERROR " + command + ": " + e);
                            }
                        });
                        break;
                    }
                    case "release": {
                        Contender c = contenders.get(Integer.parseInt(w[1]));
                        c.thread.submit(() -> {
                            try {
                                long t = System.nanoTime();
                                c.release();
                                say("RELEASED " + c.index + " " + t);
                            } catch (Exception e) {
                                say("ERROR " + command + ": " + e);
                            }
                        });
                        break;
                    }
                    case "loop":
                        loop(contenders, Integer.parseInt(w[1]), Long.parseLong(w[2]),
                             Long.parseLong(w[3]));
                        break;
                    case "quit":
                        client.close();
                        say("BYE");
                        System.exit(0);
                        return;
                    default:
                        say("ERROR unknown command " + line);
                }
            } catch (Exception e) {
                say("ERROR " + line + ": " + e);
            }
        }
        client.close();
        System.exit(0);
    }

    /** Every contender, on its own thread: {@code rounds} times acquire, hold, release, pause. */
    private static void loop(List<Contender> contenders, int rounds, long holdMs, long pauseMs) {
        List<Future<?>> running = new ArrayList<>();
        for (Contender c : contenders) {
            running.add(c.thread.submit(() -> {
                try {
                    for (int r = 0; r < rounds; r++) {
                        c.acquire(-1);
                        long t0 = System.nanoTime();
                        Thread.sleep(holdMs);
                        long t1 = System.nanoTime();
                        if (!c.stillHeld()) {
                            say("ERROR " + c.index + " lost its hold during round " + r);
                        }
                        c.release();
                        say("HELD " + c.index + " " + c.role() + " " + t0 + " " + t1);
                        Thread.sleep(ThreadLocalRandom.current().nextLong(pauseMs + 1));
                    }
                } catch (Exception e) {
                    say("ERROR " + c.index + " " + e);
                }
            }));
        }
        say("LOOPING");
        Thread done = new Thread(() -> {
            try {
                for (Future<?> f : running) {
                    f.get();
                }
                say("DONE");
            } catch (Exception e) {
                say("ERROR loop " + e);
            }
        }, "loop-done");
        done.setDaemon(true);
        done.start();
    }
}
