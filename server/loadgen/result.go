package loadgen

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// histogram records latencies in microseconds.
type histogram struct{ h *hdrhistogram.Histogram }

func newHistogram() *histogram {
	return &histogram{hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs)}
}

// record adds one latency, clamped into the histogram's range (a request
// slower than a minute counts as a minute).
func (h *histogram) record(d time.Duration) {
	v := min(max(d.Microseconds(), histMinMicros), histMaxMicros)
	_ = h.h.RecordValue(v) // cannot fail: v is in range
}

// Latency summarises a latency distribution.
type Latency struct {
	Count int64         `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	at := func(q float64) time.Duration { return time.Duration(h.ValueAtQuantile(q)) * time.Microsecond }
	return Latency{
		Count: h.TotalCount(),
		Mean:  time.Duration(h.Mean() * float64(time.Microsecond)),
		P50:   at(50),
		P90:   at(90),
		P99:   at(99),
		P999:  at(99.9),
		Max:   time.Duration(h.Max()) * time.Microsecond,
	}
}

// OpResult is the measurement of one operation within a run.
type OpResult struct {
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Latency   Latency `json:"latency"`
}

// Result is the measurement of one run.
type Result struct {
	// Target names what was measured ("zkd 3-node"); Run leaves it empty
	// for the caller to fill in.
	Target   string   `json:"target,omitempty"`
	Workload string   `json:"workload"`
	Servers  []string `json:"servers"`
	Clients  int      `json:"clients"`
	Pipeline int      `json:"pipeline"`
	// Rate is the offered load in requests per second (Config.Rate); 0
	// for a closed loop.
	Rate float64 `json:"rate,omitempty"`
	// PayloadSize and KeySpace are as configured (KeySpace 0 for create).
	PayloadSize int `json:"payload_bytes"`
	KeySpace    int `json:"keys"`
	// Elapsed is the measured time: the configured duration, or less when
	// the run ended by op count or was cancelled.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Ops counts successful requests; failed ones are in Errors by error
	// code (NONODE, CONNECTIONLOSS, ...) and not in the latencies.
	Ops       int64            `json:"ops"`
	Errors    map[string]int64 `json:"errors,omitempty"`
	OpsPerSec float64          `json:"ops_per_sec"`
	Latency   Latency          `json:"latency"`
	// PerOp breaks the run down by operation (for mixed workloads: get
	// and set), keyed by Op.String().
	PerOp map[string]OpResult `json:"per_op"`
	// ClientCPU is the CPU time, user and system, that the load
	// generator's process used during the measurement; ServerCPU is the
	// servers', if Config.ServerCPU said how to measure it (else 0).
	ClientCPU time.Duration `json:"client_cpu_ns"`
	ServerCPU time.Duration `json:"server_cpu_ns,omitempty"`
	// Root is the znode the run worked under (deleted at the end).
	Root string `json:"root"`
	// Histogram holds every successful request's latency in microseconds,
	// for merging runs or printing other percentiles.
	Histogram *hdrhistogram.Histogram `json:"-"`
}

// CPUPerOp divides a CPU time of the run by its successful requests; 0
// if there were none.
func (r Result) CPUPerOp(cpu time.Duration) time.Duration {
	if r.Ops == 0 {
		return 0
	}
	return cpu / time.Duration(r.Ops)
}

// ErrorCount is the total number of failed requests.
func (r Result) ErrorCount() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// collect merges the workers' counters and histograms.
func collect(cfg Config, workers []*worker, elapsed time.Duration) Result {
	res := Result{
		Workload:    cfg.Workload.String(),
		Servers:     cfg.Servers,
		Clients:     cfg.Clients,
		Pipeline:    cfg.Pipeline,
		Rate:        cfg.Rate,
		PayloadSize: cfg.PayloadSize,
		Elapsed:     elapsed,
		PerOp:       map[string]OpResult{},
		Root:        cfg.Root,
		Histogram:   newHistogram().h,
	}
	if cfg.Workload.needsKeys() {
		res.KeySpace = cfg.KeySpace
	}
	rate := func(n int64) float64 {
		if elapsed <= 0 {
			return 0
		}
		return float64(n) / elapsed.Seconds()
	}
	for op := range numOps {
		h := newHistogram().h
		var n int64
		for _, w := range workers {
			n += w.ops[op]
			h.Merge(w.hist[op].h)
		}
		if n == 0 {
			continue
		}
		res.Ops += n
		res.Histogram.Merge(h)
		res.PerOp[op.String()] = OpResult{Ops: n, OpsPerSec: rate(n), Latency: summarize(h)}
	}
	for _, w := range workers {
		for code, n := range w.errs {
			if res.Errors == nil {
				res.Errors = map[string]int64{}
			}
			res.Errors[code] += n
		}
	}
	res.OpsPerSec = rate(res.Ops)
	res.Latency = summarize(res.Histogram)
	return res
}
