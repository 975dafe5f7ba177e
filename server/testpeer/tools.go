package testpeer

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Where Debian bookworm's packages put the tools (see README.md). Each can be
// overridden through the environment variable named next to it, for machines
// that install ZooKeeper elsewhere.
const (
	zkCliPath  = "/usr/share/zookeeper/bin/zkCli.sh" // ZKD_ZKCLI; package zookeeper
	cliMtPath  = "/usr/lib/zookeeper/bin/cli_mt"     // ZKD_CLI_MT; package zookeeper-bin
	pythonPath = "/usr/bin/python3"                  // ZKD_PYTHON; package python3-kazoo
	// ZKD_ZK_CLASSPATH overrides the whole server classpath.
	zookeeperJar = "/usr/share/java/zookeeper.jar" // libzookeeper-java; its manifest pulls in the rest
	// ZooKeeper logs through SLF4J; Debian ships no binding on the default
	// classpath, so without this jar the server would log nothing at all.
	slf4jSimpleJar = "/usr/share/java/slf4j-simple.jar" // libslf4j-java
	// The Jetty admin server needs javax.servlet, which the zookeeper.jar
	// manifest does not list; without it the admin server silently stays off.
	servletAPIJar = "/usr/share/java/servlet-api.jar" // libservlet-api-java
)

// clientJVMFlags shorten JVM start-up of short-lived client tools (about
// 0.7 s instead of 1 s): they run for well under a second, so C2 compilation
// and a parallel collector only cost time.
const clientJVMFlags = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData"

const depsHint = "install the test dependencies with `make deps` (Debian packages zookeeper zookeeper-bin python3-kazoo)"

// ZkCli returns the path of Apache ZooKeeper's zkCli.sh.
func ZkCli(t testing.TB) string {
	t.Helper()
	return executable(t, "ZKD_ZKCLI", zkCliPath, "zkCli.sh")
}

// CliMt returns the path of cli_mt, the multi-threaded C client shell built
// on libzookeeper_mt.
func CliMt(t testing.TB) string {
	t.Helper()
	return executable(t, "ZKD_CLI_MT", cliMtPath, "cli_mt")
}

// PythonWithKazoo returns a Python interpreter that can import kazoo. It is
// Debian's /usr/bin/python3 rather than whatever python3 is first on PATH,
// which may be a pyenv build without Debian's dist-packages.
func PythonWithKazoo(t testing.TB) string {
	t.Helper()
	py := executable(t, "ZKD_PYTHON", pythonPath, "python3")
	if _, err := run(invocation{path: py, args: []string{"-c", "import kazoo.client"}, timeout: 30 * time.Second}); err != nil {
		t.Fatalf("testpeer: %s cannot import kazoo (%v); %s", py, err, depsHint)
	}
	return py
}

// Java returns the java launcher used for the server and the Apache tools.
func Java(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("java")
	if err != nil {
		t.Fatalf("testpeer: no java on PATH (%v); %s", err, depsHint)
	}
	return path
}

// ApacheClasspath returns the JVM classpath that runs the Apache ZooKeeper
// 3.8 server and its tools (QuorumPeerMain, TxnLogToolkit, SnapshotFormatter)
// with logging and the admin server working.
func ApacheClasspath(t testing.TB) string {
	t.Helper()
	if cp := os.Getenv("ZKD_ZK_CLASSPATH"); cp != "" {
		return cp
	}
	jars := []string{zookeeperJar, slf4jSimpleJar, servletAPIJar}
	for _, jar := range jars {
		if _, err := os.Stat(jar); err != nil {
			t.Fatalf("testpeer: Apache ZooKeeper classpath incomplete: %v; %s", err, depsHint)
		}
	}
	return strings.Join(jars, ":")
}

// executable returns the tool at the path named by envVar, or def, failing
// the test with an actionable message when it is not an executable file.
func executable(t testing.TB, envVar, def, name string) string {
	t.Helper()
	path := def
	if p := os.Getenv(envVar); p != "" {
		path = p
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("testpeer: %s not found: %v; %s (or set %s)", name, err, depsHint, envVar)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("testpeer: %s at %s is not an executable file; %s (or set %s)", name, path, depsHint, envVar)
	}
	return path
}
