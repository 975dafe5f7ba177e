package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/zkd-io/zkd/server/logdump"
)

// exitError carries the exit status logdump promises: 1 when damage was
// found (or the input could not be read), 2 for a usage error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode is the process exit status for this error.
func (e *exitError) ExitCode() int { return e.code }

func usageErr(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf("logdump: "+format, a...)}
}

func damageErr(format string, a ...any) error {
	return &exitError{code: 1, err: fmt.Errorf("logdump: "+format, a...)}
}

const logdumpUsage = `usage: zkd logdump [flags] <log file | snapshot file | dataDir>

Inspect ZooKeeper 3.8 / zkd txn logs and snapshots offline. Read-only and
lock-free: safe on a live server's files. A dataDir (or its version-2/) is read
as a whole: all logs in zxid order, plus snapshots for --snapshot and --history.

modes (default: print txns):
  --verify           check checksums, headers, torn tails, zxid continuity and
                     snapshot seals; exit 1 if anything is damaged (a gap that
                     a snapshot fills is noted, not damage)
  --stats            txns by type, writes by path prefix (--depth), sessions,
                     time span, zxid range, epochs
  --snapshot         show the newest snapshot of a dataDir (implied when the
                     input is a snapshot file): tree, ACLs, sessions
  --history PATH     every change to one znode: its state in the newest snapshot
                     at or before the first log, then each txn that touched it

exit status: 0 ok, 1 damage found or input unreadable, 2 usage error

flags:
`

func runLogdump(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logdump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		asJSON   = fs.Bool("json", false, "machine-readable output: one JSON object per txn (NDJSON); data is base64")
		local    = fs.Bool("local", false, "show times in the local time zone instead of UTC")
		verbose  = fs.Bool("v", false, "show the file, offset and size of each record")
		dataFmt  = fs.String("data", "utf8", "how to show znode data: utf8 (hex when not printable), hex, base64, none")
		maxData  = fs.Int("max-data", 64, "show at most this many bytes of data per field (-1: all)")
		fromZxid = fs.String("from-zxid", "", "only txns with zxid >= this (hex 0x... or decimal)")
		toZxid   = fs.String("to-zxid", "", "only txns with zxid <= this (hex 0x... or decimal)")
		path     = fs.String("path", "", "only txns touching this path or below it (multi sub-ops and closeSession ephemerals included); a trailing * matches a plain string prefix")
		session  = fs.String("session", "", "only txns of this session id (hex 0x... or decimal)")
		types    = fs.String("type", "", "only these txn types, comma-separated ZooKeeper op names (create,delete,setData,multi,...)")
		since    = fs.String("since", "", "only txns at or after this time (RFC 3339 or unix ms)")
		until    = fs.String("until", "", "only txns at or before this time (RFC 3339 or unix ms)")
		verify   = fs.Bool("verify", false, "verify the data and report problems with file and offset")
		stats    = fs.Bool("stats", false, "print statistics instead of txns")
		depth    = fs.Int("depth", 1, "path components that make a prefix for --stats")
		snap     = fs.Bool("snapshot", false, "show the newest snapshot of a dataDir")
		biggest  = fs.Int("biggest", 0, "snapshot view: only the N largest znodes by data size")
		history  = fs.String("history", "", "show every change to this znode")
	)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), logdumpUsage)
		fs.PrintDefaults()
	}
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil
		}
	}
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("logdump: %w", err)}
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageErr("want exactly one log file, snapshot file or dataDir, got %d arguments", fs.NArg())
	}
	modes := 0
	for _, on := range []bool{*verify, *stats, *snap, *history != ""} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return usageErr("--verify, --stats, --snapshot and --history are exclusive")
	}
	opts := logdump.Options{JSON: *asJSON, MaxData: *maxData, Verbose: *verbose}
	if *local {
		opts.Location = time.Local
	}
	var err error
	if opts.Data, err = logdump.ParseDataFormat(*dataFmt); err != nil {
		return usageErr("--data: %v", err)
	}
	f := &opts.Filter
	if *fromZxid != "" {
		if f.FromZxid, err = logdump.ParseZxid(*fromZxid); err != nil {
			return usageErr("--from-zxid: %v", err)
		}
	}
	if *toZxid != "" {
		if f.ToZxid, err = logdump.ParseZxid(*toZxid); err != nil {
			return usageErr("--to-zxid: %v", err)
		}
	}
	if *session != "" {
		id, err := logdump.ParseSession(*session)
		if err != nil {
			return usageErr("--session: %v", err)
		}
		f.Session = &id
	}
	if *types != "" {
		if f.Types, err = logdump.ParseTypes(*types); err != nil {
			return usageErr("--type: %v", err)
		}
	}
	if *since != "" {
		if f.Since, err = logdump.ParseTime(*since); err != nil {
			return usageErr("--since: %v", err)
		}
	}
	if *until != "" {
		if f.Until, err = logdump.ParseTime(*until); err != nil {
			return usageErr("--until: %v", err)
		}
	}
	f.PathPrefix = *path
	if *depth < 0 || *biggest < 0 {
		return usageErr("--depth and --biggest must not be negative")
	}

	in, err := logdump.Open(fs.Arg(0))
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	switch {
	case *verify:
		r, err := logdump.Verify(stdout, in)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		if !r.OK() {
			return damageErr("%d problems found", len(r.Problems))
		}
		return nil
	case *stats:
		if in.IsSnapshot() {
			return usageErr("--stats reads txn logs; %s is a snapshot", fs.Arg(0))
		}
		s, err := logdump.ComputeStats(in, opts, *depth)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		if err := logdump.WriteStats(stdout, s, *asJSON); err != nil {
			return err
		}
		if len(s.Problems) > 0 {
			return damageErr("%d problems met while reading (see lines starting with !; run --verify)", len(s.Problems))
		}
		return nil
	case *history != "":
		base, changes, probs, err := logdump.History(in, *history, opts)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		if err := logdump.WriteHistory(stdout, *history, base, changes, opts); err != nil {
			return err
		}
		for _, p := range probs {
			fmt.Fprintf(stdout, "! %s\n", p)
		}
		if len(probs) > 0 {
			return damageErr("%d problems met while reading", len(probs))
		}
		return nil
	case *snap || in.IsSnapshot():
		if len(in.Snapshots) == 0 {
			return usageErr("--snapshot: %s holds no snapshot", fs.Arg(0))
		}
		v, _, err := logdump.LoadSnapshot(in.Snapshots[0].Path, *asJSON && opts.Data != logdump.DataNone)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		return logdump.WriteSnapshot(stdout, v, logdump.SnapshotOptions{
			JSON: *asJSON, Biggest: *biggest, Filter: opts.Filter, Data: opts.Data, MaxData: opts.MaxData, Location: opts.Location,
		})
	}
	if len(in.Logs) == 0 {
		return usageErr("%s holds no txn logs (use --snapshot to see its snapshots)", fs.Arg(0))
	}
	res, err := logdump.Dump(stdout, in, opts)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if len(res.Problems) > 0 {
		for _, p := range res.Problems {
			fmt.Fprintf(stderr, "logdump: %s\n", p)
		}
		return damageErr("%d problems met while reading (run --verify for a full report)", len(res.Problems))
	}
	if !*asJSON {
		fmt.Fprintf(stderr, "%d of %d txns shown\n", res.Shown, res.Txns)
	}
	return nil
}
