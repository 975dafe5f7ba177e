package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints results as a table for people: one row per run with
// throughput, latency percentiles, the load generator's CPU time per
// request ("gen cpu") and errors, and for mixed workloads one indented
// row per operation.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tclients\tops/s\tgen cpu\tp50\tp90\tp99\tp99.9\tmax\terrors")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Workload, clientsCell(r), FormatRate(r.OpsPerSec),
			FormatLatency(r.CPUPerOp(r.ClientCPU)), FormatLatency(r.Latency.P50), FormatLatency(r.Latency.P90),
			FormatLatency(r.Latency.P99), FormatLatency(r.Latency.P999), FormatLatency(r.Latency.Max), errorsCell(r.Errors))
		if len(r.PerOp) < 2 {
			continue
		}
		for _, op := range opNames {
			o, ok := r.PerOp[op]
			if !ok {
				continue
			}
			fmt.Fprintf(tw, "  %s\t\t%s\t\t%s\t%s\t%s\t%s\t%s\n", op, FormatRate(o.OpsPerSec),
				FormatLatency(o.Latency.P50), FormatLatency(o.Latency.P90), FormatLatency(o.Latency.P99),
				FormatLatency(o.Latency.P999), FormatLatency(o.Latency.Max))
		}
	}
	return tw.Flush()
}

// Target is one system measured for a comparison: its runs (one per
// workload) and, optionally, the resident memory of each of its nodes.
type Target struct {
	Name    string
	Results []Result
	Memory  []Memory
	// MemoryNote says what the memory was measured holding, e.g. "100 000
	// znodes of 128 bytes"; printed in the memory section's heading.
	MemoryNote string
}

// WriteComparison prints targets side by side: per workload each target's
// ops/s, CPU time per request of its servers (cpu/op) and of the load
// generator (gen cpu), p50, p99 and errors, then the first target's ops/s,
// server CPU per request and latencies relative to each other target's
// (ops/s ratio above 1 and the other ratios below 1 favour the first).
// Runs are matched by workload and client count. If any target has
// memory figures, a second table lists the resident memory of every node
// and the totals' ratio.
func WriteComparison(w io.Writer, targets []Target) error {
	if len(targets) == 0 {
		return nil
	}
	type rowKey struct{ workload, clients string }
	var rows []rowKey
	byTarget := make([]map[rowKey]Result, len(targets))
	for i, t := range targets {
		byTarget[i] = map[rowKey]Result{}
		for _, r := range t.Results {
			k := rowKey{r.Workload, clientsCell(r)}
			if !slices.Contains(rows, k) {
				rows = append(rows, k)
			}
			byTarget[i][k] = r
		}
	}
	base := targets[0].Name
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// Two header lines: the group (target or ratio) over its columns.
	groups := []string{"", ""}
	cols := []string{"workload", "clients"}
	for _, t := range targets {
		groups = append(groups, t.Name, "", "", "", "", "")
		cols = append(cols, "ops/s", "cpu/op", "gen cpu", "p50", "p99", "errors")
	}
	for _, t := range targets[1:] {
		groups = append(groups, base+" / "+t.Name, "", "", "")
		cols = append(cols, "ops/s", "cpu/op", "p50", "p99")
	}
	writeRow(tw, groups)
	writeRow(tw, cols)
	for _, k := range rows {
		cells := []string{k.workload, k.clients}
		for i := range targets {
			r, ok := byTarget[i][k]
			if !ok {
				cells = append(cells, "-", "-", "-", "-", "-", "-")
				continue
			}
			cells = append(cells, FormatRate(r.OpsPerSec), FormatLatency(r.CPUPerOp(r.ServerCPU)),
				FormatLatency(r.CPUPerOp(r.ClientCPU)), FormatLatency(r.Latency.P50), FormatLatency(r.Latency.P99),
				strconv.FormatInt(r.ErrorCount(), 10))
		}
		b, haveBase := byTarget[0][k]
		for i := 1; i < len(targets); i++ {
			o, ok := byTarget[i][k]
			if !ok || !haveBase {
				cells = append(cells, "-", "-", "-", "-")
				continue
			}
			cells = append(cells, ratio(b.OpsPerSec, o.OpsPerSec), ratio(float64(b.CPUPerOp(b.ServerCPU)), float64(o.CPUPerOp(o.ServerCPU))),
				ratio(float64(b.Latency.P50), float64(o.Latency.P50)), ratio(float64(b.Latency.P99), float64(o.Latency.P99)))
		}
		writeRow(tw, cells)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if measuredCPU(targets) {
		fmt.Fprintln(w, "cpu/op: CPU time (user + system) of all the target's servers per request; gen cpu: the load generator's")
	}
	return writeMemory(w, targets)
}

// measuredCPU reports whether any result has CPU figures, which the
// legend under the comparison then explains.
func measuredCPU(targets []Target) bool {
	for _, t := range targets {
		for _, r := range t.Results {
			if r.ServerCPU > 0 || r.ClientCPU > 0 {
				return true
			}
		}
	}
	return false
}

// writeMemory prints the per-node memory table, if there is anything to
// print.
func writeMemory(w io.Writer, targets []Target) error {
	nodes := 0
	var notes []string
	for _, t := range targets {
		nodes = max(nodes, len(t.Memory))
		if t.MemoryNote != "" && !slices.Contains(notes, t.MemoryNote) {
			notes = append(notes, t.MemoryNote)
		}
	}
	if nodes == 0 {
		return nil
	}
	heading := "\nresident memory per node, now / peak (VmRSS / VmHWM)"
	if len(notes) > 0 {
		heading += ", holding " + strings.Join(notes, "; ")
	}
	fmt.Fprintln(w, heading)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	cols := []string{"target"}
	for i := range nodes {
		cols = append(cols, "node "+strconv.Itoa(i+1))
	}
	cols = append(cols, "total")
	writeRow(tw, cols)
	totals := make([]uint64, len(targets))
	for ti, t := range targets {
		cells := []string{t.Name}
		var peak uint64
		for i := range nodes {
			if i >= len(t.Memory) {
				cells = append(cells, "-")
				continue
			}
			m := t.Memory[i]
			totals[ti] += m.RSS
			peak += m.HWM
			cells = append(cells, FormatBytes(m.RSS)+" / "+FormatBytes(m.HWM))
		}
		if len(t.Memory) == 0 {
			cells = append(cells, "-")
		} else {
			cells = append(cells, FormatBytes(totals[ti])+" / "+FormatBytes(peak))
		}
		writeRow(tw, cells)
	}
	for i := 1; i < len(targets); i++ {
		if len(targets[0].Memory) == 0 || len(targets[i].Memory) == 0 {
			continue
		}
		cells := []string{targets[0].Name + " / " + targets[i].Name}
		for range nodes {
			cells = append(cells, "")
		}
		cells = append(cells, ratio(float64(totals[0]), float64(totals[i])))
		writeRow(tw, cells)
	}
	return tw.Flush()
}

func writeRow(w io.Writer, cells []string) {
	// Trailing empty cells would become trailing blanks.
	for len(cells) > 0 && cells[len(cells)-1] == "" {
		cells = cells[:len(cells)-1]
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// clientsCell is the clients column: sessions, "x" requests in flight
// per session when more than one, and "@" the offered load when fixed.
func clientsCell(r Result) string {
	s := strconv.Itoa(r.Clients)
	if r.Pipeline > 1 {
		s += "x" + strconv.Itoa(r.Pipeline)
	}
	if r.Rate > 0 {
		s += "@" + FormatRate(r.Rate) + "/s"
	}
	return s
}

func errorsCell(errs map[string]int64) string {
	if len(errs) == 0 {
		return "0"
	}
	parts := make([]string, 0, len(errs))
	for _, code := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, code+"="+strconv.FormatInt(errs[code], 10))
	}
	return strings.Join(parts, " ")
}

func ratio(a, b float64) string {
	if b == 0 || a == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// FormatRate prints an operations-per-second figure, rounded to whole
// operations.
func FormatRate(r float64) string { return strconv.FormatFloat(r, 'f', 0, 64) }

// FormatLatency prints a latency with three significant digits at most,
// in µs below a millisecond, ms below ten seconds, s above; "-" for none.
func FormatLatency(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return strconv.FormatFloat(us, 'f', 0, 64) + "µs"
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(us/1e3, 'f', 2, 64) + "ms"
	case d < 100*time.Millisecond:
		return strconv.FormatFloat(us/1e3, 'f', 1, 64) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(us/1e3, 'f', 0, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}

// FormatBytes prints a size in MiB with one decimal.
func FormatBytes(b uint64) string {
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB"
}
