package admin

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/zkd-io/zkd/server/fourlw"
)

// HostSystemProperties returns system_properties' entries for this
// process: the Go counterparts of the Java system properties ZooKeeper
// lists. Properties that describe the host and user keep their Java
// names (os.name, os.arch, os.version, user.name, user.home, user.dir,
// user.timezone, file.separator, path.separator, line.separator,
// file.encoding), because tools read them by those names; the JVM's own
// (java.*, sun.*) become go.version, go.compiler and go.command. The
// values come from the live process, so they vary from host to host.
func HostSystemProperties() []fourlw.KV {
	var props []fourlw.KV
	for _, kv := range fourlw.HostEnvironment() {
		switch {
		case kv.Key == "host.name", strings.HasPrefix(kv.Key, "os.memory."):
			// envi lists these; Java has no such system properties.
		default:
			props = append(props, kv)
		}
	}
	zone, _ := time.Now().Zone()
	if tz := os.Getenv("TZ"); tz != "" {
		zone = tz
	}
	return append(props,
		fourlw.KV{Key: "file.encoding", Value: "UTF-8"}, // Go strings are UTF-8
		fourlw.KV{Key: "file.separator", Value: string(filepath.Separator)},
		fourlw.KV{Key: "path.separator", Value: string(filepath.ListSeparator)},
		fourlw.KV{Key: "line.separator", Value: "\n"},
		fourlw.KV{Key: "user.timezone", Value: zone},
		fourlw.KV{Key: "go.compiler", Value: runtime.Compiler},
		fourlw.KV{Key: "go.command", Value: strings.Join(os.Args, " ")},
	)
}
