package compat_test

import (
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/testpeer"
)

// kazooHelpers is prepended to every kazoo scenario. It prints observations
// in the same normalised form as the raw harness: zxids are kept, but
// relative to the scenario's root node ("z+N"), so one scenario going wrong
// does not shift every later one; times become T or 0 and session ids S1,
// S2... by first appearance (S1 is always the main client zk).
const kazooHelpers = `
import atexit, queue, re, threading, time
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.protocol.states import ZnodeStat
from kazoo.security import ACL, make_acl, make_digest_acl

_sessions = {}
_base = [0]
_clients = []

def sess(v):
    if v == 0:
        return "0"
    if v not in _sessions:
        _sessions[v] = "S%d" % (len(_sessions) + 1)
    return _sessions[v]

sess(zk.client_id[0])

def zx(z):
    if _base[0] and z >= _base[0]:
        return "z+%d" % (z - _base[0])
    return "%#x" % z

def st(s):
    tm = lambda v: "T" if v else "0"
    # mtime equals ctime until the first set_data; after it, whether they
    # differ depends on the wall clock, so only the first case is asserted.
    rel = ""
    if s.version == 0:
        rel = "(m=c)" if s.mtime == s.ctime else "(m!=c)"
    return "czxid=%s mzxid=%s pzxid=%s ctime=%s mtime=%s%s version=%d cversion=%d aversion=%d owner=%s len=%d children=%d" % (
        zx(s.czxid), zx(s.mzxid), zx(s.pzxid), tm(s.ctime), tm(s.mtime), rel, s.version, s.cversion,
        s.aversion, sess(s.ephemeralOwner), s.dataLength, s.numChildren)

def show(r):
    if isinstance(r, ZnodeStat):
        return st(r)
    if isinstance(r, BaseException):
        return type(r).__name__
    if isinstance(r, ACL):
        return "%s:%s:%d" % (r.id.scheme, r.id.id, r.perms)
    if isinstance(r, tuple):
        return "(" + ", ".join(show(x) for x in r) + ")"
    if isinstance(r, list):
        parts = [show(x) for x in r]
        if all(isinstance(x, str) for x in r):
            parts.sort()
        return "[" + ", ".join(parts) + "]"
    return repr(r)

def out(*a):
    print(*a, flush=True)

def attempt(label, fn, *a, **kw):
    try:
        r = fn(*a, **kw)
    except KazooException as e:
        out(label, "->", type(e).__name__)
        return None
    out(label, "->", show(r))
    return r

def client(**kw):
    c = KazooClient(hosts=sys.argv[1], timeout=10.0, **kw)
    c.start(timeout=15)
    sess(c.client_id[0])
    _clients.append(c)
    return c

def _stop_clients():
    for c in _clients:
        try:
            c.stop()
            c.close()
        except Exception:
            pass

atexit.register(_stop_clients)

def _quiesce(timeout=20.0):
    """Waits until the main client's session is the server's only one.
    Sessions left by the previous scenario (closing, or expiring after a
    client died) produce closeSession txns at times that differ between
    servers; one landing inside this scenario would shift its zxids."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in zk.command(b"mntr").splitlines():
            k, _, v = line.partition("\t")
            if k == "zk_global_sessions" and v.strip().isdigit() and int(v) <= 1:
                return
        time.sleep(0.1)

def root(name):
    _quiesce()
    p = "/kz-" + name
    zk.create(p, b"")
    _base[0] = zk.exists(p).czxid
    return p

def until(cond, timeout=10.0):
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            raise RuntimeError("condition not reached within %ss" % timeout)
        time.sleep(0.02)

def drain(q, first=10.0, quiet=0.3):
    """Returns the items put on q: waits for one, then until q stays quiet."""
    items = [q.get(timeout=first)]
    while True:
        try:
            items.append(q.get(timeout=quiet))
        except queue.Empty:
            return items
`

// kazooScenario is one python script body run after kazooHelpers.
type kazooScenario struct {
	name string
	body string
}

var kazooScenarios = []kazooScenario{
	{"server", `
out("password length", len(zk.client_id[1]))
out("ruok", zk.command(b"ruok"))
out("sync", zk.sync("/"))
attempt("get root children", zk.get_children, "/zookeeper")
attempt("get /zookeeper/quota", zk.get, "/zookeeper/quota")
# kazoo's only version check: it parses zookeeper.version from "envi".
attempt("server version", lambda: zk.server_version()[:2])
`},
	{"crud", `
R = root("crud")
attempt("create", zk.create, R + "/a", b"v1")
attempt("create again", zk.create, R + "/a", b"v2")
attempt("create no parent", zk.create, R + "/x/y", b"")
attempt("create makepath", zk.create, R + "/x/y", b"deep", makepath=True)
attempt("exists", zk.exists, R + "/a")
attempt("exists missing", zk.exists, R + "/nope")
attempt("get", zk.get, R + "/a")
attempt("get missing", zk.get, R + "/nope")
attempt("set", zk.set, R + "/a", b"v2")
attempt("set bad version", zk.set, R + "/a", b"v3", version=0)
attempt("set version", zk.set, R + "/a", b"v3", version=1)
attempt("set missing", zk.set, R + "/nope", b"")
attempt("get after sets", zk.get, R + "/a")
attempt("delete bad version", zk.delete, R + "/a", version=0)
attempt("delete not empty", zk.delete, R + "/x")
attempt("delete version", zk.delete, R + "/a", version=2)
attempt("delete missing", zk.delete, R + "/a")
attempt("delete recursive", zk.delete, R + "/x", recursive=True)
attempt("ensure_path", zk.ensure_path, R + "/e/f/g")
attempt("ensure_path again", zk.ensure_path, R + "/e/f/g")
attempt("create h", zk.create, R + "/e/h", b"hh")
attempt("get ensured", zk.get, R + "/e/f")
attempt("create ephemeral", zk.create, R + "/eph", b"", ephemeral=True)
attempt("child of ephemeral", zk.create, R + "/eph/c", b"")
attempt("get_children", zk.get_children, R)
attempt("get_children include_data", zk.get_children, R + "/e", include_data=True)
attempt("get_children missing", zk.get_children, R + "/nope")
attempt("get_acls", zk.get_acls, R + "/e")
attempt("set_acls bad version", zk.set_acls, R + "/e", [make_acl("world", "anyone", all=True)], version=3)
attempt("set_acls", zk.set_acls, R + "/e", [make_acl("world", "anyone", read=True, write=True)], version=0)
attempt("get_acls after", zk.get_acls, R + "/e")
attempt("large value", zk.create, R + "/big", b"x" * 100000)
attempt("get large", lambda: (len(zk.get(R + "/big")[0]), zk.get(R + "/big")[1]))
attempt("delete /zookeeper", zk.delete, "/zookeeper")
attempt("exists root", lambda: zk.exists(R))
`},
	{"sequence", `
R = root("seq")
for i in range(3):
    attempt("seq", zk.create, R + "/n-", b"", sequence=True)
attempt("ephemeral seq", zk.create, R + "/e-", b"", ephemeral=True, sequence=True)
zk.delete(R + "/n-0000000000")
attempt("seq after delete", zk.create, R + "/n-", b"", sequence=True)
attempt("seq no prefix", zk.create, R + "/", b"", sequence=True)
attempt("seq other parent", zk.create, R + "/p/q-", b"", sequence=True, makepath=True)
attempt("children", zk.get_children, R)
attempt("root stat", zk.exists, R)
`},
	{"ephemeral-cleanup", `
R = root("eph")
b = client()
attempt("B create ephemeral", b.create, R + "/e", b"x", ephemeral=True)
attempt("B create ephemeral seq", b.create, R + "/s-", b"y", ephemeral=True, sequence=True)
attempt("B create persistent", b.create, R + "/p", b"z")
attempt("A exists", zk.exists, R + "/e")
q = queue.Queue()
zk.exists(R + "/e", watch=q.put)
zk.get_children(R, watch=q.put)
b.stop()
b.close()
for ev in sorted(drain(q), key=lambda e: e.type):
    out("event", ev.type, ev.state, ev.path)
attempt("A exists after stop", zk.exists, R + "/e")
attempt("children after stop", zk.get_children, R)
attempt("root stat", zk.exists, R)
`},
	{"watches", `
R = root("watch")
q = queue.Queue()
@zk.DataWatch(R + "/d")
def dw(data, stat, event):
    q.put("data=%r stat=%s event=%s" % (data, st(stat) if stat else None, event.type if event else None))
out(q.get(timeout=10))
zk.create(R + "/d", b"1")
out(q.get(timeout=10))
zk.set(R + "/d", b"2")
out(q.get(timeout=10))
zk.delete(R + "/d")
out(q.get(timeout=10))
cq = queue.Queue()
@zk.ChildrenWatch(R)
def cw(children):
    cq.put(sorted(children))
out("children", cq.get(timeout=10))
zk.create(R + "/c1")
out("children", cq.get(timeout=10))
zk.create(R + "/c2")
out("children", cq.get(timeout=10))
zk.delete(R + "/c1")
out("children", cq.get(timeout=10))
eq = queue.Queue()
zk.exists(R + "/w", watch=eq.put)
zk.create(R + "/w", b"")
zk.get(R + "/w", watch=eq.put)
zk.get_children(R + "/w", watch=eq.put)
zk.create(R + "/w/k", b"")
zk.set(R + "/w", b"new")
zk.get(R + "/w", watch=eq.put)
zk.delete(R + "/w/k")
zk.delete(R + "/w")
for ev in drain(eq):
    out("event", ev.type, ev.state, ev.path)
`},
	{"transaction", `
R = root("txn")
zk.create(R + "/a", b"a")
t = zk.transaction()
t.create(R + "/b", b"b")
t.check(R + "/a", 0)
t.set_data(R + "/a", b"a2")
t.create(R + "/s-", b"", sequence=True)
t.delete(R + "/b")
out("committed", show(t.commit()))
t = zk.transaction()
t.create(R + "/c", b"c")
t.check(R + "/a", 0)
t.set_data(R + "/a", b"x")
out("failed check", show(t.commit()))
attempt("c absent", zk.exists, R + "/c")
attempt("a unchanged", zk.get, R + "/a")
t = zk.transaction()
t.delete(R + "/a", version=5)
out("bad delete", show(t.commit()))
t = zk.transaction()
t.create(R + "/a", b"")
out("exists", show(t.commit()))
t = zk.transaction()
t.set_data(R + "/a", b"y", version=1)
t.create(R + "/nope/x", b"")
out("missing parent", show(t.commit()))
with zk.transaction() as t:
    t.create(R + "/ctx", b"ctx")
    t.set_data(R + "/ctx", b"ctx2")
attempt("after with", zk.get, R + "/ctx")
attempt("root stat", zk.exists, R)
`},
	{"auth", `
R = root("auth")
acl = make_digest_acl("alice", "pw", all=True)
out("acl", show(acl))
zk.add_auth("digest", "alice:pw")
attempt("create protected", zk.create, R + "/p", b"secret", acl=[acl])
attempt("get_acls", zk.get_acls, R + "/p")
attempt("owner get", zk.get, R + "/p")
b = client()
attempt("B get", b.get, R + "/p")
attempt("B set", b.set, R + "/p", b"x")
attempt("B create child", b.create, R + "/p/c", b"")
attempt("B get_acls", b.get_acls, R + "/p")
attempt("B exists", b.exists, R + "/p")
attempt("B add_auth wrong password", b.add_auth, "digest", "alice:wrong")
attempt("B get", b.get, R + "/p")
c = client(auth_data=[("digest", "alice:pw")])
attempt("C get", c.get, R + "/p")
s = client(auth_data=[("digest", "super:secret")])
attempt("super get", s.get, R + "/p")
attempt("set_acls", zk.set_acls, R + "/p", [acl, make_acl("world", "anyone", read=True)])
attempt("B get after", b.get, R + "/p")
attempt("B delete", b.delete, R + "/p")
attempt("create auth acl", zk.create, R + "/q", b"", acl=[make_acl("auth", "", all=True)])
attempt("get_acls auth", zk.get_acls, R + "/q")
attempt("create bad acl", b.create, R + "/r", b"", acl=[make_acl("auth", "", all=True)])
attempt("create ip acl", zk.create, R + "/ip", b"", acl=[make_acl("ip", "10.0.0.0/8", all=True)])
attempt("get ip-protected", zk.get, R + "/ip")
e = client()
attempt("E add_auth unknown scheme", e.add_auth, "nosuchscheme", "x")
`},
	{"lock", `
R = root("lock")
b = client()
la = zk.Lock(R + "/l", "A")
lb = b.Lock(R + "/l", "B")
out("A acquire", la.acquire(timeout=10))
got = threading.Event()
def take():
    if lb.acquire(timeout=10):
        got.set()
th = threading.Thread(target=take)
th.start()
until(lambda: len(la.contenders()) == 2)
out("contenders", la.contenders())
out("B holds before release", got.is_set())
la.release()
out("B acquired", got.wait(10))
th.join()
out("contenders", la.contenders())
out("A non-blocking", la.acquire(blocking=False))
lb.release()
out("A non-blocking after", la.acquire(blocking=False))
out("B non-blocking", lb.acquire(blocking=False))
out("nodes", sorted(re.sub(r"^.*__", "", c) for c in zk.get_children(R + "/l")))
la.release()
out("nodes after", zk.get_children(R + "/l"))
rl = zk.ReadLock(R + "/rw", "r1")
wl = b.WriteLock(R + "/rw", "w1")
out("read lock", rl.acquire(timeout=5))
attempt("write lock while read", wl.acquire, timeout=0.5)
rl.release()
out("write lock", wl.acquire(timeout=5))
wl.release()
sem = zk.Semaphore(R + "/sem", "A", max_leases=2)
out("semaphore", sem.acquire(timeout=5), sem.lease_holders())
sem.release()
`},
	{"election", `
R = root("election")
b = client()
ea = zk.Election(R + "/e", "A")
eb = b.Election(R + "/e", "B")
leaders = queue.Queue()
done = {"A": threading.Event(), "B": threading.Event()}
def run(e, name):
    def lead():
        leaders.put(name)
        done[name].wait(10)
    e.run(lead)
ta = threading.Thread(target=run, args=(ea, "A"))
ta.start()
out("leader", leaders.get(timeout=10))
tb = threading.Thread(target=run, args=(eb, "B"))
tb.start()
until(lambda: len(ea.contenders()) == 2)
out("contenders", ea.contenders())
done["A"].set()
out("leader", leaders.get(timeout=10))
out("contenders", eb.contenders())
done["B"].set()
ta.join()
tb.join()
out("contenders after", ea.contenders())
`},
	{"queue", `
R = root("queue")
q = zk.Queue(R + "/q")
q.put(b"one")
q.put(b"two")
q.put(b"urgent", priority=1)
q.put(b"three")
out("len", len(q))
for i in range(5):
    out("get", q.get())
lq = zk.LockingQueue(R + "/lq")
lq.put(b"a")
lq.put_all([b"b", b"c"], priority=50)
out("locking len", len(lq))
out("locking get", lq.get(timeout=5))
out("holds lock", lq.holds_lock())
out("consume", lq.consume())
out("locking get", lq.get(timeout=5))
out("release", lq.release())
out("locking get again", lq.get(timeout=5))
out("consume", lq.consume())
out("locking len", len(lq))
out("remaining", zk.get_children(R + "/lq/entries"))
`},
	{"counter", `
R = root("counter")
c = zk.Counter(R + "/c")
c += 1
c += 5
c -= 2
out("value", c.value)
b = client()
bc = b.Counter(R + "/c")
bc += 10
out("value seen by A", c.value)
attempt("node", zk.get, R + "/c")
f = zk.Counter(R + "/f", default=0.5)
f += 1.25
out("float", f.value)
attempt("float node", zk.get, R + "/f")
`},
	{"barrier", `
R = root("barrier")
bar = zk.Barrier(R + "/b")
out("wait without barrier", bar.wait(0.1))
out("create", bar.create())
out("wait times out", bar.wait(0.3))
b = client()
res = queue.Queue()
th = threading.Thread(target=lambda: res.put(b.Barrier(R + "/b").wait(10)))
th.start()
until(lambda: zk.exists(R + "/b").numChildren >= 0)
time.sleep(0.2)
out("remove", bar.remove())
out("waiter released", res.get(timeout=10))
th.join()
da = zk.DoubleBarrier(R + "/db", 2, identifier="A")
db = b.DoubleBarrier(R + "/db", 2, identifier="B")
entered = queue.Queue()
def enter(d, name):
    d.enter()
    entered.put(name)
t1 = threading.Thread(target=enter, args=(da, "A"))
t1.start()
time.sleep(0.3)
out("entered before second", entered.qsize())
t2 = threading.Thread(target=enter, args=(db, "B"))
t2.start()
out("entered", sorted([entered.get(timeout=10), entered.get(timeout=10)]))
t1.join()
t2.join()
out("participants", da.participating, db.participating)
left = queue.Queue()
t3 = threading.Thread(target=lambda: (da.leave(), left.put("A")))
t4 = threading.Thread(target=lambda: (db.leave(), left.put("B")))
t3.start()
t4.start()
out("left", sorted([left.get(timeout=10), left.get(timeout=10)]))
t3.join()
t4.join()
out("children", zk.get_children(R + "/db"))
`},
	{"treecache", `
from kazoo.recipe.cache import TreeCache, TreeEvent
R = root("tree")
zk.create(R + "/t/a", b"1", makepath=True)
zk.create(R + "/t/b", b"2")
names = {TreeEvent.NODE_ADDED: "ADDED", TreeEvent.NODE_UPDATED: "UPDATED", TreeEvent.NODE_REMOVED: "REMOVED",
         TreeEvent.INITIALIZED: "INITIALIZED"}
def fmt(e):
    s = names.get(e.event_type, str(e.event_type))
    if e.event_data is not None:
        d = e.event_data
        s += " %s data=%r %s" % (d.path, d.data, st(d.stat) if d.stat else None)
    return s
q = queue.Queue()
tc = TreeCache(zk, R + "/t")
tc.listen(lambda e: q.put(fmt(e)))
tc.start()
for line in sorted(drain(q)):
    out("initial", line)
steps = [
    ("create c", lambda: zk.create(R + "/t/c", b"3")),
    ("set a", lambda: zk.set(R + "/t/a", b"1b")),
    ("create deep", lambda: zk.create(R + "/t/a/deep", b"d")),
    ("set deep", lambda: zk.set(R + "/t/a/deep", b"d2")),
    ("delete a", lambda: zk.delete(R + "/t/a", recursive=True)),
    ("delete b", lambda: zk.delete(R + "/t/b")),
]
for label, fn in steps:
    fn()
    for line in drain(q):
        out(label, line)
out("cache children", sorted(tc.get_children(R + "/t")))
d = tc.get_data(R + "/t/c")
out("cache data", d.data, st(d.stat))
tc.close()
`},
	{"partitioner", `
R = root("partition")
b = client()
pa = zk.SetPartitioner(R + "/p", set=[1, 2, 3, 4], identifier="A", time_boundary=0.3)
pb = b.SetPartitioner(R + "/p", set=[1, 2, 3, 4], identifier="B", time_boundary=0.3)
deadline = time.time() + 20
while time.time() < deadline:
    for p in (pa, pb):
        if p.failed:
            raise RuntimeError("partitioner failed")
        if p.release:
            p.release_set()
        elif p.allocating:
            p.wait_for_acquire(0.5)
    if pa.acquired and pb.acquired and len(list(pa)) + len(list(pb)) == 4:
        break
    time.sleep(0.05)
out("A", sorted(list(pa)), "B", sorted(list(pb)))
pa.finish()
pb.finish()
out("finished", pa.state, pb.state)
`},
}

// TestKazooDifferential runs recipe-level scenarios through python3-kazoo
// against zkd and Apache ZooKeeper 3.8 and compares the printed
// observations line by line. One server pair serves every scenario: each
// scenario works under its own root and prints zxids relative to it.
//
// A 3-node zkd ensemble, with the scripts connected to a follower, runs
// the same scenarios: recipes must not see the difference.
func TestKazooDifferential(t *testing.T) {
	targets := append(both(t), startZkdEnsemble(t))
	for _, sc := range kazooScenarios {
		t.Run(sc.name, func(t *testing.T) {
			var trs []*transcript
			var names []string
			for _, tg := range targets {
				out, err := testpeer.RunKazoo(t, tg.addr, kazooHelpers+sc.body)
				if err != nil {
					t.Errorf("%s: kazoo script failed: %v", tg.name, err)
				}
				tr := newTranscript()
				for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
					if l != "" {
						tr.add("%s", l)
					}
				}
				if err != nil {
					tr.add("script failed")
				}
				trs = append(trs, tr)
				names = append(names, tg.name)
			}
			compare(t, names, trs)
			if t.Failed() || testing.Verbose() {
				for i, tr := range trs {
					t.Logf("%s transcript:\n%s", names[i], joinLines(tr.lines))
				}
			}
		})
	}
}
