// A Curator contender for zkfast's interop tests (tests/server/test_interop_curator.py).
//
//   java -cp <classes>:<curator jars> CuratorPeer <connect string> <path> <kind>[,<kind>...]
//
// Each kind is one recipe instance on <path>, numbered from 0:
//   mutex          InterProcessMutex
//   revocable      InterProcessMutex.makeRevocable: on a revocation request it releases
//                  (if it holds) and prints REVOKED <i> <t>
//   read | write   InterProcessReadWriteLock's readLock() / writeLock()
//   semaphore:N    InterProcessSemaphoreV2 with N leases
//   latch          LeaderLatch (a fresh latch per acquisition; release closes it)
//   selector       LeaderSelector (one selector; acquire = start or requeue and wait until
//                  takeLeadership runs; release = let takeLeadership return)
//   count:SEED     SharedCount (started at once)
//   member:ID      GroupMember with id ID and data ID (started at once)
//   discovery      ServiceDiscovery with <path> as its base path (JSON payloads)
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
//   revoke <node path>      REVOKE_SENT   (Revoker.attemptRevoke)
// and for the kinds that are no locks (each on its instance's thread):
//   get <i>                 VALUE <i> <count> <version>
//   set <i> <n>             SET <i>
//   incr <i> <times>        INCREMENTED <i> <conflicts>: times compare-and-set increments
//   await <i> <n>           SEEN <i> <n> once a listener heard the count n (60 s at most)
//   members <i>             MEMBERS <i> <id>=<data>,... (sorted by id)
//   register <i> <name> <id> <port> <payload JSON without spaces, or ->
//                           REGISTERED <i>
//   unregister <i> <name> <id>   UNREGISTERED <i>
//   query <i> <name>        INSTANCES <i> <count> <base64 of each instance's JSON>...
//   provider <i> <name> <round_robin|random|sticky>   PROVIDER <i>
//   pick <i>                PICKED <i> <instance id, or - for none>
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
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.framework.recipes.locks.Revoker;
import org.apache.curator.framework.recipes.nodes.GroupMember;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.SharedCountListener;
import org.apache.curator.framework.recipes.shared.SharedCountReader;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.ServiceProvider;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;
import org.apache.curator.x.discovery.strategies.RandomStrategy;
import org.apache.curator.x.discovery.strategies.RoundRobinStrategy;
import org.apache.curator.x.discovery.strategies.StickyStrategy;

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
        LeaderSelector selector;
        CompletableFuture<Long> leading;  // completed when takeLeadership starts
        CountDownLatch letGo;             // takeLeadership returns when counted down
        SharedCount count;
        final List<Integer> heard = new ArrayList<>();
        GroupMember member;
        ServiceDiscovery<Object> discovery;
        ServiceProvider<Object> provider;

        Contender(int index, String kind, CuratorFramework client, String path) throws Exception {
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
            } else if (kind.equals("revocable")) {
                mutex = new InterProcessMutex(client, path);
                mutex.makeRevocable(m -> thread.submit(() -> {
                    try {
                        if (m.isAcquiredInThisProcess()) {
                            long t = System.nanoTime();
                            m.release();
                            say("REVOKED " + index + " " + t);
                        }
                    } catch (Exception e) {
                        say("ERROR revoke " + index + ": " + e);
                    }
                }));
            } else if (kind.equals("selector")) {
                // created on first acquire
            } else if (kind.startsWith("count:")) {
                count = new SharedCount(client, path, Integer.parseInt(kind.substring("count:".length())));
                count.addListener(new SharedCountListener() {
                    @Override
                    public void countHasChanged(SharedCountReader reader, int newCount) {
                        synchronized (heard) {
                            heard.add(newCount);
                            heard.notifyAll();
                        }
                    }

                    @Override
                    public void stateChanged(CuratorFramework c, ConnectionState state) {
                    }
                });
                count.start();
            } else if (kind.startsWith("member:")) {
                String id = kind.substring("member:".length());
                member = new GroupMember(client, path, id, id.getBytes(StandardCharsets.UTF_8));
                member.start();
            } else if (kind.equals("discovery")) {
                discovery = ServiceDiscoveryBuilder.builder(Object.class).client(client).basePath(path)
                    .serializer(new JsonInstanceSerializer<>(Object.class)).build();
                discovery.start();
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

        /** A LeaderSelector turn: queue (start or requeue), then wait for takeLeadership. */
        boolean lead(long ms) throws Exception {
            if (leading == null || leading.isDone()) {  // a timed-out turn stays queued: wait on
                leading = new CompletableFuture<>();  // the listener reads these fields per turn
                letGo = new CountDownLatch(1);
                if (selector == null) {
                    selector = new LeaderSelector(client, path, new LeaderSelectorListenerAdapter() {
                        @Override
                        public void takeLeadership(CuratorFramework c) throws Exception {
                            leading.complete(System.nanoTime());
                            letGo.await();
                        }
                    });
                    selector.setId("curator-" + index);
                    selector.start();
                } else {
                    while (!selector.requeue()) {  // the last turn is still ending
                        Thread.sleep(1);
                    }
                }
            }
            try {
                if (ms < 0) {
                    leading.get();
                } else {
                    leading.get(ms, TimeUnit.MILLISECONDS);
                }
                return true;
            } catch (java.util.concurrent.TimeoutException e) {
                return false;
            }
        }

        /** True once held; false when {@code ms} (>= 0) passed first. */
        boolean acquire(long ms) throws Exception {
            if (kind.equals("selector")) {
                return lead(ms);
            }
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
            if (kind.equals("selector")) {
                letGo.countDown();
                return;
            }
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
            if (selector != null) {
                return selector.hasLeadership();
            }
            return latch == null || latch.hasLeadership();
        }

        /** The commands of the kinds that are no locks; runs on this instance's thread. */
        void other(String[] w) throws Exception {
            switch (w[0]) {
                case "get": {
                    VersionedValue<Integer> v = count.getVersionedValue();
                    say("VALUE " + index + " " + v.getValue() + " " + v.getVersion());
                    break;
                }
                case "set":
                    count.setCount(Integer.parseInt(w[2]));
                    say("SET " + index);
                    break;
                case "incr": {
                    int conflicts = 0;
                    for (int n = Integer.parseInt(w[2]); n > 0; n--) {
                        while (true) {
                            VersionedValue<Integer> v = count.getVersionedValue();
                            if (count.trySetCount(v, v.getValue() + 1)) {
                                break;
                            }
                            conflicts++;
                        }
                    }
                    say("INCREMENTED " + index + " " + conflicts);
                    break;
                }
                case "await": {
                    int want = Integer.parseInt(w[2]);
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                    synchronized (heard) {
                        while (!heard.contains(want) && System.nanoTime() < deadline) {
                            heard.wait(100);
                        }
                        say(heard.contains(want) ? "SEEN " + index + " " + want
                            : "ERROR " + index + " never heard " + want + ", only " + heard);
                    }
                    break;
                }
                case "members": {
                    StringBuilder out = new StringBuilder();
                    for (Map.Entry<String, byte[]> e : new TreeMap<>(member.getCurrentMembers()).entrySet()) {
                        out.append(out.length() == 0 ? "" : ",").append(e.getKey()).append("=")
                           .append(new String(e.getValue(), StandardCharsets.UTF_8));
                    }
                    say("MEMBERS " + index + " " + out);
                    break;
                }
                case "register": {
                    Object payload = w[5].equals("-") ? null : new ObjectMapper().readValue(w[5], Object.class);
                    discovery.registerService(ServiceInstance.builder().name(w[2]).id(w[3]).address("127.0.0.1")
                        .port(Integer.parseInt(w[4])).payload(payload).build());
                    say("REGISTERED " + index);
                    break;
                }
                case "unregister":
                    discovery.unregisterService(discovery.queryForInstance(w[2], w[3]));
                    say("UNREGISTERED " + index);
                    break;
                case "query": {
                    Collection<ServiceInstance<Object>> found = discovery.queryForInstances(w[2]);
                    JsonInstanceSerializer<Object> json = new JsonInstanceSerializer<>(Object.class);
                    StringBuilder out = new StringBuilder("INSTANCES " + index + " " + found.size());
                    for (ServiceInstance<Object> i : found) {
                        out.append(" ").append(Base64.getEncoder().encodeToString(json.serialize(i)));
                    }
                    say(out.toString());
                    break;
                }
                case "provider":
                    provider = discovery.serviceProviderBuilder().serviceName(w[2]).providerStrategy(
                        w[3].equals("random") ? new RandomStrategy<>()
                        : w[3].equals("sticky") ? new StickyStrategy<>(new RoundRobinStrategy<>())
                        : new RoundRobinStrategy<>()).build();
                    provider.start();
                    say("PROVIDER " + index);
                    break;
                case "pick": {
                    ServiceInstance<Object> i = provider.getInstance();
                    say("PICKED " + index + " " + (i == null ? "-" : i.getId()));
                    break;
                }
                default:
                    say("ERROR unknown command " + String.join(" ", w));
            }
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
                    case "revoke":
                        Revoker.attemptRevoke(client, w[1]);
                        say("REVOKE_SENT");
                        break;
                    case "get": case "set": case "incr": case "await": case "members":
                    case "register": case "unregister": case "query": case "provider": case "pick": {
                        Contender c = contenders.get(Integer.parseInt(w[1]));
                        c.thread.submit(() -> {
                            try {
                                c.other(w);
                            } catch (Exception e) {
                                say("ERROR " + command + ": " + e);
                            }
                        });
                        break;
                    }
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
