// Package ensembletest runs real multi-node ZooKeeper ensembles (Apache
// ZooKeeper 3.8 or zkd) as child processes of a test, injects faults into
// them (kill -9, SIGSTOP/SIGCONT, restarts, network partitions) and checks
// what clients saw while that happened.
//
// Both kinds are driven the same way: each node gets its own loopback
// address (127.x.y.z), its own free ports, dataDir with myid, zoo.cfg and
// log file, and is started as `java ... QuorumPeerMain zoo.cfg` or
// `zkd server zoo.cfg`. A fault test therefore runs against either kind by
// changing Options.Kind; see KindsFromEnv for ZKD_ENSEMBLE_KIND.
//
// The pieces:
//
//   - Start / Cluster / Node: processes, ports, modes (srvr), restarts.
//   - Cluster.Partition / Heal: iptables rules that drop the traffic
//     between two sets of nodes (root only; see partition.go for how
//     unbound client sockets are told apart).
//   - Recorder, Workload: go-zookeeper clients whose every operation is
//     recorded with call and return times for a linearizability check with
//     porcupine (RegisterModel), plus checks for acknowledged writes that
//     went missing and for plain reads that went back in time.
//
// Environment: ZKD_ENSEMBLE_KIND=apache|zkd|both (default both) selects the
// kinds ForEachKind runs; ENSEMBLETEST_LOGS=1 (or a line count) logs every
// node's log tail at the end of each test, not only of failed ones.
//
// Typical use:
//
//	c := ensembletest.Start(t, ensembletest.Options{Kind: kind, Size: 3})
//	w := ensembletest.NewWorkload(t, c, ensembletest.WorkloadOptions{})
//	w.Start()
//	leader := c.Leader()
//	leader.Kill()
//	w.WaitProgress(100, time.Minute) // the rest serves again
//	leader.Restart()
//	w.Check()         // porcupine, plain reads, acknowledged creates
//	w.CheckReplicas() // every node holds the same data
package ensembletest
