// Package metricstest builds the complete set of metrics a `zkd server`
// registers, for the tests that check what is written against them: the
// metrics catalogue, the alert rules and the dashboards. One builder keeps
// the three from drifting apart, and from drifting from cmd/zkd.
package metricstest

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/metrics"
	"github.com/zkd-io/zkd/server/admin"
	"github.com/zkd-io/zkd/server/config"
	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/gctuner"
	"github.com/zkd-io/zkd/server/quorum/peer"
	"github.com/zkd-io/zkd/server/quorum/transport"
	"github.com/zkd-io/zkd/server/quorum/wire"
	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/web"
	"github.com/zkd-io/zkd/web/console"
)

// Server wires the metrics of a server the way cmd/zkd does, with the
// default config and a temporary dataDir, registering through a Recorder.
// It returns the registry and every collector registered with it (pass
// them to metrics.Build for a catalogue).
func Server(t testing.TB) (*prometheus.Registry, []prometheus.Collector) {
	t.Helper()
	reg := prometheus.NewRegistry()
	rec := metrics.NewRecorder(reg)
	if err := metrics.Register(rec, "test"); err != nil {
		t.Fatal(err)
	}
	if err := metrics.RegisterConfigWarnings(rec, 0); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	logger := zerolog.Nop()
	store, err := storage.Open(storage.Options{
		DataDir:               cfg.DataDir,
		DataLogDir:            cfg.TxnLogDir(),
		SnapCount:             cfg.SnapCount,
		SnapCompression:       cfg.SnapshotCompression,
		PreAllocSize:          cfg.PreAllocSize,
		ForceSync:             cfg.ForceSync,
		FsyncWarningThreshold: cfg.FsyncWarningThreshold,
		Logger:                logger,
		Registerer:            rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	_, err = zkserver.New(zkserver.Options{
		ListenAddr:             net.JoinHostPort("127.0.0.1", "0"),
		TickTime:               cfg.TickTime,
		MinSessionTimeout:      cfg.MinSessionTimeout,
		MaxSessionTimeout:      cfg.MaxSessionTimeout,
		MaxClientCnxns:         cfg.MaxClientCnxns,
		MaxBuffer:              cfg.JuteMaxBuffer,
		ExtendedTypes:          cfg.ExtendedTypesEnabled,
		SuperDigest:            cfg.SuperDigest,
		FourLetterAllowed:      cfg.FourLetterAllowed,
		ContainerCheckInterval: cfg.ContainerCheckInterval,
		ContainerMaxPerMinute:  cfg.ContainerMaxPerMinute,
		Version:                "test",
		Logger:                 logger,
		Registerer:             rec,
		Conf:                   func() []string { return nil },
		Dirs:                   func() (int64, int64) { return 0, 0 },
		Store:                  store,
		SnapRetainCount:        cfg.AutopurgeSnapRetainCount,
		PurgeInterval:          time.Duration(cfg.AutopurgePurgeInterval) * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPPort <= 0 || !cfg.AdminEnableServer {
		t.Fatal("the default config no longer serves HTTP and the AdminServer: update metricstest.Server to match cmd/zkd")
	}
	// Not started: New registers the /metrics handler's own metrics.
	web.New(web.Options{Addr: "127.0.0.1:0", Gatherer: reg, Registerer: rec, Logger: logger})
	if _, err := admin.NewMetrics(rec); err != nil {
		t.Fatal(err)
	}
	// An ensemble member adds the quorum and election metrics (cmd/zkd's
	// newPeer; its storage and tree metrics are the ones above).
	host := "127.0.0.1"
	one := wire.QuorumConfig{Servers: []wire.QuorumServer{{ID: 1, Type: wire.Participant,
		Addrs: []wire.ServerAddr{{Host: host, QuorumPort: 1, ElectionPort: 2}}}}}
	if _, err := peer.New(peer.Config{ID: 1, Quorum: one, DataDir: t.TempDir(), TickTime: cfg.TickTime,
		InitLimit: cfg.InitLimit, SyncLimit: cfg.SyncLimit, Logger: logger, Registerer: rec}); err != nil {
		t.Fatal(err)
	}
	if err := transport.RegisterCatalogueMetrics(rec); err != nil {
		t.Fatal(err)
	}
	// The GC tuner (on by default) registers its own; the environment of
	// the test does not decide whether it exists.
	if _, err := gctuner.New(gctuner.Options{Headroom: uint64(cfg.GCHeadroomMB) << 20,
		Getenv: func(string) string { return "" }, Logger: logger, Registerer: rec}); err != nil {
		t.Fatal(err)
	}
	// The console (on by default: read-only) registers its own.
	con, err := console.New(console.Options{Tree: func() *datatree.Tree { return nil }, Registerer: rec, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(con.Close)
	return reg, rec.Collectors()
}
