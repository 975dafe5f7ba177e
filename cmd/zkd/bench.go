package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zkd-io/zkd/server/loadgen"
)

// maxBenchPayload is ZooKeeper's default jute.maxbuffer: a larger payload
// would be refused by servers with default settings.
const maxBenchPayload = 1 << 20

// benchOptions is a parsed `zkd bench` command line.
type benchOptions struct {
	// cfg is the run configuration shared by every workload; its
	// Workload field is set per run.
	cfg       loadgen.Config
	workloads []loadgen.Workload
	json      bool
	target    string
}

// parseBenchArgs reads `zkd bench` flags. Usage goes to stderr on -h or
// a flag error.
func parseBenchArgs(args []string, stderr io.Writer) (benchOptions, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: zkd bench -servers host:port[,host:port...] [flags]

Runs go-zookeeper clients against a ZooKeeper ensemble (zkd or Apache
ZooKeeper) and prints throughput and latency percentiles. Everything it
creates lives under a fresh /zkd-bench-<random> znode, deleted at the end.

flags:
`)
		fs.PrintDefaults()
	}
	var o benchOptions
	servers := fs.String("servers", "", "ensemble client addresses, comma-separated host:port (required)")
	fs.BoolVar(&o.cfg.ConnectAll, "connect-all", false,
		"give every client the whole server list (go-zookeeper picks one at random) instead of spreading clients round robin")
	fs.IntVar(&o.cfg.Clients, "clients", 16, "client sessions")
	fs.IntVar(&o.cfg.Pipeline, "pipeline", 1, "requests in flight per session (goroutines per session)")
	fs.Float64Var(&o.cfg.Rate, "rate", 0,
		"offer this many requests per second in all, on a fixed schedule, to compare latency at equal load (0: each client sends as soon as it has its answer)")
	workloads := fs.String("workload", "mixed-90",
		"comma-separated workloads, run one after the other: create, set, get, mixed-N (N% gets, the rest sets)")
	fs.DurationVar(&o.cfg.Duration, "duration", 20*time.Second, "measured time per workload (0: use -ops)")
	fs.Int64Var(&o.cfg.Ops, "ops", 0, "end each workload after this many operations instead (or earlier, with -duration)")
	fs.DurationVar(&o.cfg.Warmup, "warmup", 2*time.Second, "unmeasured warm-up before each workload")
	fs.IntVar(&o.cfg.PayloadSize, "payload", 128, "bytes of data per create and set (and per key read by get)")
	fs.IntVar(&o.cfg.KeySpace, "keys", 1000, "znodes that set, get and mixed work on, created beforehand")
	fs.StringVar(&o.cfg.Root, "root", "", "znode to work under; default /zkd-bench-<random> (must not exist)")
	fs.DurationVar(&o.cfg.ConnectTimeout, "connect-timeout", loadgen.DefaultConnectTimeout, "give up connecting to a server after this long")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON instead of a table")
	fs.StringVar(&o.target, "name", "", "name of what is measured, recorded in the results (e.g. \"zkd 3-node\")")
	if err := fs.Parse(args); err != nil {
		return o, usageError{err}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("unexpected argument %q (servers go in -servers)", fs.Arg(0))}
	}
	var err error
	if o.cfg.Servers, err = parseServers(*servers); err != nil {
		return o, usageError{err}
	}
	for _, name := range strings.Split(*workloads, ",") {
		w, err := loadgen.ParseWorkload(strings.TrimSpace(name))
		if err != nil {
			return o, usageError{fmt.Errorf("-workload: %w", err)}
		}
		o.workloads = append(o.workloads, w)
	}
	switch {
	case o.cfg.Clients < 1:
		err = fmt.Errorf("-clients %d: need at least one client", o.cfg.Clients)
	case o.cfg.Pipeline < 1:
		err = fmt.Errorf("-pipeline %d: need at least one request in flight per client", o.cfg.Pipeline)
	case o.cfg.KeySpace < 1:
		err = fmt.Errorf("-keys %d: need at least one key", o.cfg.KeySpace)
	case o.cfg.PayloadSize < 0:
		err = fmt.Errorf("-payload %d: must not be negative", o.cfg.PayloadSize)
	case o.cfg.PayloadSize > maxBenchPayload:
		err = fmt.Errorf("-payload %d: larger than ZooKeeper's default jute.maxbuffer (%d bytes); servers would refuse it",
			o.cfg.PayloadSize, maxBenchPayload)
	case o.cfg.Rate < 0:
		err = fmt.Errorf("-rate %g: must not be negative", o.cfg.Rate)
	case o.cfg.Duration < 0 || o.cfg.Warmup < 0 || o.cfg.Ops < 0:
		err = errors.New("-duration, -warmup and -ops must not be negative")
	case o.cfg.Duration == 0 && o.cfg.Ops == 0:
		err = errors.New("-duration 0 needs -ops: otherwise the run never ends")
	case o.cfg.ConnectTimeout <= 0:
		err = fmt.Errorf("-connect-timeout %v: must be positive", o.cfg.ConnectTimeout)
	}
	if err != nil {
		return o, usageError{err}
	}
	return o, nil
}

// parseServers reads a comma-separated list of host:port.
func parseServers(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("-servers is required: the ensemble's client addresses, e.g. -servers 127.0.0.1:2181,127.0.0.2:2181")
	}
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("-servers: %q is not host:port", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
			return nil, fmt.Errorf("-servers: %q is not host:port with a port from 1 to 65535", a)
		}
		out = append(out, a)
	}
	return out, nil
}

// usageError is a command-line mistake: exit status 2, as for logdump.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
func (e usageError) ExitCode() int { return 2 }

// runBench is `zkd bench`: each workload in turn, progress on stderr, the
// results on stdout. Ctrl-C stops the current workload, cleans up and
// prints what was measured so far.
func runBench(args []string, stdout, stderr io.Writer) error {
	o, err := parseBenchArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bench(ctx, o, stdout, stderr)
}

func bench(ctx context.Context, o benchOptions, stdout, stderr io.Writer) error {
	var results []loadgen.Result
	var runErr error
	for _, w := range o.workloads {
		cfg := o.cfg
		cfg.Workload = w
		span := fmt.Sprintf("for %v", cfg.Duration)
		if cfg.Ops > 0 {
			span = fmt.Sprintf("for %d ops", cfg.Ops)
			if cfg.Duration > 0 {
				span += fmt.Sprintf(" or %v", cfg.Duration)
			}
		}
		load := ""
		if cfg.Rate > 0 {
			load = fmt.Sprintf(" at %s requests/s", loadgen.FormatRate(cfg.Rate))
		}
		fmt.Fprintf(stderr, "zkd bench: %s on %s, %d clients x %d in flight%s, %d-byte payload, %s after %v warm-up\n",
			w, strings.Join(cfg.Servers, ","), cfg.Clients, cfg.Pipeline, load, cfg.PayloadSize, span, cfg.Warmup)
		res, err := loadgen.Run(ctx, cfg)
		res.Target = o.target
		if res.Workload != "" {
			results = append(results, res)
		}
		if err != nil {
			runErr = fmt.Errorf("bench %s: %w", w, err)
			break
		}
	}
	if len(results) > 0 {
		if err := writeBenchResults(stdout, results, o.json); err != nil {
			return errors.Join(runErr, err)
		}
	}
	return runErr
}

func writeBenchResults(w io.Writer, results []loadgen.Result, asJSON bool) error {
	if !asJSON {
		return loadgen.WriteTable(w, results)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}
