// Command zkd is a ZooKeeper-compatible coordination service.
//
//	zkd server [zoo.cfg]   run a server in the foreground
//	zkd version            print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/zkd-io/zkd/metrics"
	"github.com/zkd-io/zkd/server/admin"
	"github.com/zkd-io/zkd/server/config"
	"github.com/zkd-io/zkd/server/gctuner"
	"github.com/zkd-io/zkd/server/quorum/peer"
	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/txnlog"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/web"
)

// version is zkd's own version; ZooKeeperVersion is the protocol level it
// implements and reports where ZooKeeper reports its version.
var version = "0.1.0-dev"

const zooKeeperVersion = zkserver.ZooKeeperVersion

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "zkd:", err)
		// Commands choose their exit status by error (logdump: 1 for
		// damage found, 2 for usage errors); anything else is 1.
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			os.Exit(coded.ExitCode())
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errors.New("missing subcommand")
	}
	switch args[0] {
	case "server":
		return runServer(args[1:], stderr)
	case "logdump":
		return runLogdump(args[1:], stdout, stderr)
	case "purge":
		return runPurge(args[1:], stdout, stderr)
	case "truncate-log":
		return runTruncateLog(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "healthcheck":
		return runHealthcheck(args[1:], stdout, stderr)
	case "hash-password":
		return runHashPassword(args[1:], os.Stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "zkd %s (ZooKeeper %s protocol)\n", version, zooKeeperVersion)
		return nil
	case "help", "-h", "--help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: zkd <command> [arguments]

commands:
  server [flags] [zoo.cfg]   run a ZooKeeper-compatible server in the foreground
                             (no zoo.cfg: standalone on 127.0.0.1:2181, HTTP on :8080)
  logdump [flags] <log file | snapshot | dataDir>
                             inspect txn logs and snapshots offline (read-only; see zkd logdump -h)
  purge [-n N] [-dry-run] <dataDir> [dataLogDir]
                             delete old snapshots and txn logs, keeping the newest N (>= 3)
                             snapshots and every log recovery needs from them
  truncate-log -zxid Z <dataLogDir>
                             cut the txn log after zxid Z (the way out of a damaged log)
  bench -servers host:port,... [flags]
                             measure ops/s and latency of an ensemble (see zkd bench -h)
  healthcheck [-timeout d] [host:port]
                             exit 0 if the server at host:port (127.0.0.1:2181) serves clients
  hash-password [-user NAME -role ROLE] [-token]
                             read a password (or bearer token) on stdin and print its
                             hash for zkd.console.user.NAME (or zkd.console.token.NAME)
  version                    print the version
`)
}

func runServer(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	logFormat := fs.String("log.format", "json", "log format: json or console")
	logLevel := fs.String("log.level", "info", "log level: debug, info, warn, error")
	var tcfg tracingConfig
	fs.StringVar(&tcfg.endpoint, "tracing.otlp-endpoint", "",
		"send request traces over OTLP/HTTP to this collector: host:port (path /v1/traces) or a URL; empty: tracing off")
	fs.Float64Var(&tcfg.ratio, "tracing.sample-ratio", 1.0, "fraction of client requests traced, 0 to 1")
	fs.BoolVar(&tcfg.insecure, "tracing.insecure", false, "send traces over plain HTTP instead of HTTPS (host:port endpoints)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}

	var (
		cfg      *config.Config
		warnings []string
	)
	switch fs.NArg() {
	case 0:
		cfg = config.Default()
		dir, err := defaultDataDir()
		if err != nil {
			return err
		}
		cfg.DataDir = dir
		logger.Info().Str("dataDir", dir).Msg("no zoo.cfg given: running standalone on the embedded default config")
	case 1:
		cfg, warnings, err = config.Load(fs.Arg(0))
		if err != nil {
			return err
		}
		for _, w := range warnings {
			logger.Warn().Str("config", fs.Arg(0)).Msg(w)
		}
	default:
		return errors.New("server takes at most one argument, the zoo.cfg path")
	}
	clientAddr := net.JoinHostPort(cfg.ClientPortAddress, strconv.Itoa(cfg.ClientPort))
	serverID := int64(0)
	ensemble := !cfg.Standalone()
	if ensemble {
		self, ok := cfg.Self()
		if !ok {
			return fmt.Errorf("zoo.cfg describes an ensemble, but myid %d (from %s) is not one of its server.N lines",
				cfg.MyID, filepath.Join(cfg.DataDir, "myid"))
		}
		serverID = cfg.MyID
		if cfg.ClientPort == 0 && self.ClientPort != 0 {
			// ZooKeeper takes the client address from the server line
			// when clientPort is not set.
			clientAddr = net.JoinHostPort(self.ClientHost, strconv.Itoa(self.ClientPort))
		}
	}
	logger = logger.With().Int64("server_id", serverID).Logger()

	tp, err := newTracerProvider(tcfg, serverID, logger)
	if err != nil {
		return err
	}
	var tracer trace.Tracer
	if tp != nil {
		defer shutdownTracing(tp, logger)
		tracer = tp.Tracer("github.com/zkd-io/zkd/server/zkserver", trace.WithInstrumentationVersion(version))
		logger.Info().Str("endpoint", tcfg.endpoint).Float64("sample_ratio", tcfg.ratio).Msg("tracing requests over OTLP/HTTP")
	}

	reg := metrics.NewRegistry(version)
	if err := metrics.RegisterConfigWarnings(reg, len(warnings)); err != nil {
		return err
	}
	snapDir := filepath.Join(cfg.DataDir, storage.VersionDir)
	logDir := filepath.Join(cfg.TxnLogDir(), storage.VersionDir)
	var (
		store *storage.Store
		p     *peer.Peer
	)
	if ensemble {
		if p, err = newPeer(cfg, logger, reg); err != nil {
			return err
		}
	} else {
		store, err = storage.Open(storage.Options{
			DataDir:               cfg.DataDir,
			DataLogDir:            cfg.TxnLogDir(),
			SnapCount:             cfg.SnapCount,
			SnapCompression:       cfg.SnapshotCompression,
			PreAllocSize:          cfg.PreAllocSize,
			ForceSync:             cfg.ForceSync,
			FsyncWarningThreshold: cfg.FsyncWarningThreshold,
			Logger:                logger,
			Registerer:            reg,
		})
		if err != nil {
			return err
		}
	}
	zk, err := zkserver.New(zkserver.Options{
		ListenAddr:             clientAddr,
		ServerID:               serverID,
		TickTime:               cfg.TickTime,
		MinSessionTimeout:      cfg.MinSessionTimeout,
		MaxSessionTimeout:      cfg.MaxSessionTimeout,
		MaxClientCnxns:         cfg.MaxClientCnxns,
		MaxBuffer:              cfg.JuteMaxBuffer,
		GlobalOutstandingLimit: cfg.GlobalOutstandingLimit,
		RequestThrottle:        requestThrottleOptions(cfg.RequestThrottle),
		ConnectionThrottle:     connectionThrottleOptions(cfg.ConnectionThrottle),
		ExtendedTypes:          cfg.ExtendedTypesEnabled,
		SuperDigest:            cfg.SuperDigest,
		FourLetterAllowed:      cfg.FourLetterAllowed,
		ContainerCheckInterval: cfg.ContainerCheckInterval,
		ContainerMaxPerMinute:  cfg.ContainerMaxPerMinute,
		Version:                fmt.Sprintf("%s-zkd-%s, built on %s", zooKeeperVersion, version, buildDate()),
		Logger:                 logger,
		Registerer:             reg,
		Conf:                   func() []string { return cfg.ConfLines(dirSize(snapDir), dirSize(logDir)) },
		Dirs:                   func() (int64, int64) { return dirSize(snapDir), dirSize(logDir) },
		Store:                  store,
		Peer:                   p,
		SnapRetainCount:        cfg.AutopurgeSnapRetainCount,
		PurgeInterval:          time.Duration(cfg.AutopurgePurgeInterval) * time.Hour,
		Tracer:                 tracer,
	})
	if err != nil {
		return err
	}
	svcs := []services.Service{zk}
	if p != nil {
		svcs = append(svcs, peerService(p))
	}
	if cfg.GCHeadroomMB > 0 {
		tuner, err := gctuner.New(gctuner.Options{Headroom: uint64(cfg.GCHeadroomMB) << 20, Logger: logger, Registerer: reg})
		if err != nil {
			return err
		}
		if tuner != nil {
			svcs = append(svcs, tuner)
		}
	}
	if cfg.HTTPPort > 0 {
		httpSrv := web.New(web.Options{
			Addr:       net.JoinHostPort(cfg.HTTPAddress, strconv.Itoa(cfg.HTTPPort)),
			Gatherer:   reg,
			Registerer: reg,
			Logger:     logger,
			Pprof:      cfg.Pprof,
		})
		if cfg.AdminEnableServer {
			adminMetrics, err := admin.NewMetrics(reg)
			if err != nil {
				return err
			}
			var initialCfg string
			if fs.NArg() == 1 {
				if b, err := os.ReadFile(fs.Arg(0)); err == nil {
					initialCfg = string(b)
				}
			}
			admin.Register(httpSrv.Echo(), cfg.AdminCommandURL, zk.AdminSource(initialCfg), adminMetrics)
		}
		closeConsole, err := mountConsole(httpSrv, cfg, zk, clientAddr, reg, logger)
		if err != nil {
			return err
		}
		defer closeConsole()
		svcs = append(svcs, httpSrv)
	}
	return runServices(logger, svcs...)
}

// requestThrottleOptions maps zoo.cfg's request throttler keys to the
// server's options.
func requestThrottleOptions(t config.RequestThrottle) zkserver.RequestThrottleOptions {
	return zkserver.RequestThrottleOptions{
		MaxRequests:            t.MaxRequests,
		StallTime:              t.StallTime,
		KeepStale:              !t.DropStale,
		NoStaleConnectionCheck: !t.StaleConnectionCheck,
		StaleLatencyCheck:      t.StaleLatencyCheck,
		ThrottledOpWaitTime:    t.ThrottledOpWaitTime,
	}
}

// connectionThrottleOptions maps zoo.cfg's connection throttle keys to the
// server's options; a freeze time of -1 leaves BLUE off.
func connectionThrottleOptions(t config.ConnectionThrottle) zkserver.ConnectionThrottleOptions {
	o := zkserver.ConnectionThrottleOptions{
		Tokens:              t.Tokens,
		FillTime:            t.FillTime,
		FillCount:           t.FillCount,
		WeightEnabled:       t.WeightEnabled,
		GlobalSessionWeight: t.GlobalSessionWeight,
		LocalSessionWeight:  t.LocalSessionWeight,
		RenewSessionWeight:  t.RenewSessionWeight,
	}
	if t.BlueEnabled() {
		o.Blue = &zkserver.BlueOptions{FreezeTime: t.FreezeTime, DropIncrease: t.DropIncrease,
			DropDecrease: t.DropDecrease, DecreaseRatio: t.DecreaseRatio}
	}
	return o
}

// tracingConfig is the -tracing.* flags.
type tracingConfig struct {
	endpoint string
	ratio    float64
	insecure bool
}

// newTracerProvider builds the OTLP/HTTP trace pipeline, or returns nil
// when tracing is off (no endpoint). Spans are batched and exported in the
// background; request handling never waits for the collector.
func newTracerProvider(cfg tracingConfig, serverID int64, logger zerolog.Logger) (*sdktrace.TracerProvider, error) {
	if cfg.endpoint == "" {
		return nil, nil
	}
	if cfg.ratio < 0 || cfg.ratio > 1 || math.IsNaN(cfg.ratio) {
		return nil, fmt.Errorf("-tracing.sample-ratio: %v is not between 0 and 1", cfg.ratio)
	}
	var opts []otlptracehttp.Option
	if strings.Contains(cfg.endpoint, "://") {
		u, err := url.Parse(cfg.endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("-tracing.otlp-endpoint: %q is not an http(s) URL with a host", cfg.endpoint)
		}
		if cfg.insecure && u.Scheme == "https" {
			return nil, fmt.Errorf("-tracing.insecure contradicts the https URL %q", cfg.endpoint)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces" // a collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT takes it
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	} else {
		if _, _, err := net.SplitHostPort(cfg.endpoint); err != nil {
			return nil, fmt.Errorf("-tracing.otlp-endpoint: %q is neither host:port nor a URL: %w", cfg.endpoint, err)
		}
		opts = append(opts, otlptracehttp.WithEndpoint(cfg.endpoint))
		if cfg.insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", "zkd"),
		attribute.String("service.instance.id", strconv.FormatInt(serverID, 10)),
		attribute.String("service.version", version),
	))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	// Export failures (collector down) are reported through otel's error
	// handler; send them to our log rather than the default stderr logger.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn().Err(err).Msg("tracing")
	}))
	limits := sdktrace.NewSpanLimits()
	limits.LinkCountLimit = 1000 // a txnlog.commit span links to every request of its batch
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.ratio))),
		sdktrace.WithSpanLimits(limits),
	), nil
}

// shutdownTracing flushes the spans still queued, bounded in time so that
// an unreachable collector cannot hold up the exit.
func shutdownTracing(tp *sdktrace.TracerProvider, logger zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		logger.Warn().Err(err).Msg("tracing shutdown: some spans may be lost")
	}
}

// runServices starts the services, waits for a signal or a failure, and
// stops them all.
func runServices(logger zerolog.Logger, svcs ...services.Service) error {
	mgr, err := services.NewManager(svcs...)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := mgr.StartAsync(ctx); err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := mgr.AwaitHealthy(startCtx); err != nil {
		mgr.StopAsync()
		_ = mgr.AwaitStopped(context.Background())
		return fmt.Errorf("start-up: %w", err)
	}
	failed := make(chan error, 1)
	mgr.AddListener(services.NewManagerListener(func() {}, func() {}, func(s services.Service) {
		select {
		case failed <- s.FailureCase():
		default:
		}
	}))
	var runErr error
	select {
	case <-ctx.Done():
		logger.Info().Msg("shutting down")
	case runErr = <-failed:
		logger.Error().Err(runErr).Msg("a service failed; shutting down")
	}
	mgr.StopAsync()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelStop()
	if err := mgr.AwaitStopped(stopCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return runErr
}

func newLogger(w io.Writer, format, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("-log.level: %w", err)
	}
	var out io.Writer
	switch format {
	case "json":
		out = w
	case "console":
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	default:
		return zerolog.Logger{}, fmt.Errorf("-log.format: %q is neither json nor console", format)
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger(), nil
}

// dirSize is the total size of the regular files in dir (the dirs command
// and conf's dataDirSize report it).
func dirSize(dir string) int64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n
}

func runPurge(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keep := fs.Int("n", 3, "snapshots to keep (at least 3)")
	dry := fs.Bool("dry-run", false, "list what would be deleted, delete nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return errors.New("purge takes <dataDir> [dataLogDir]")
	}
	dataDir := fs.Arg(0)
	logDir := dataDir
	if fs.NArg() == 2 {
		logDir = fs.Arg(1)
	}
	res, err := storage.Purge(filepath.Join(dataDir, storage.VersionDir), filepath.Join(logDir, storage.VersionDir), *keep, *dry)
	if err != nil {
		return err
	}
	verb := "deleted"
	if *dry {
		verb = "would delete"
	}
	for _, p := range append(res.Snapshots, res.Logs...) {
		fmt.Fprintf(stdout, "%s %s\n", verb, p)
	}
	fmt.Fprintf(stdout, "%s %d snapshots and %d txn logs\n", verb, len(res.Snapshots), len(res.Logs))
	return nil
}

func runTruncateLog(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("truncate-log", flag.ContinueOnError)
	fs.SetOutput(stderr)
	zxidFlag := fs.String("zxid", "", "last zxid to keep (hex with 0x, or decimal)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *zxidFlag == "" {
		return errors.New("truncate-log takes -zxid Z <dataLogDir>")
	}
	zxid, err := strconv.ParseInt(*zxidFlag, 0, 64)
	if err != nil {
		return fmt.Errorf("-zxid: %w", err)
	}
	dir := filepath.Join(fs.Arg(0), storage.VersionDir)
	if err := txnlog.Truncate(dir, zxid); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "txn log in %s now ends at zxid 0x%x\n", dir, zxid)
	return nil
}

// defaultDataDir is where `zkd server` without a zoo.cfg keeps its data:
// the user's cache directory, or the temp directory when there is none.
func defaultDataDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "zkd", "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("default data directory: %w", err)
	}
	return dir, nil
}

func buildDate() string {
	exe, err := os.Executable()
	if err != nil {
		return "unknown"
	}
	st, err := os.Stat(exe)
	if err != nil {
		return "unknown"
	}
	return st.ModTime().UTC().Format("01/02/2006 15:04 MST")
}
