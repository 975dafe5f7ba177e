package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// healthInterval is how often the ensemble is polled at most, and the
// minimum spacing of live updates to one browser.
const healthInterval = time.Second

// ServerHealth is one ensemble member as the health page shows it.
type ServerHealth struct {
	ID    int64  `json:"id"`
	URL   string `json:"url"`
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
	State string `json:"state,omitempty"` // standalone, leader, follower, observer, ...
	Zxid  string `json:"zxid,omitempty"`  // hex
	Epoch int64  `json:"epoch"`
	// Lag is how many txns this server is behind the leader (or the
	// newest zxid seen when there is no leader); nil when unknown.
	Lag          *int64   `json:"lag,omitempty"`
	Connections  int64    `json:"connections"`
	Outstanding  int64    `json:"outstanding"`
	AvgLatencyMs float64  `json:"avgLatencyMs"`
	MaxLatencyMs int64    `json:"maxLatencyMs"`
	FsyncP99Ms   *float64 `json:"fsyncP99Ms,omitempty"`
	LastElection string   `json:"lastElection,omitempty"` // RFC 3339, when the server reports it
	Znodes       int64    `json:"znodes"`
	UptimeMs     int64    `json:"uptimeMs"`
	Version      string   `json:"version,omitempty"`
	zxid         int64
}

// Health is the whole ensemble at one moment.
type Health struct {
	Time    time.Time      `json:"time"`
	Leader  *int64         `json:"leader,omitempty"`
	Servers []ServerHealth `json:"servers"`
}

// healthPoller polls every peer at most once per healthInterval, however
// many browsers watch.
type healthPoller struct {
	c      *Console
	mu     sync.Mutex
	last   *Health
	at     time.Time
	ctx    context.Context
	cancel context.CancelFunc
}

func newHealthPoller(c *Console) *healthPoller {
	ctx, cancel := context.WithCancel(context.Background())
	return &healthPoller{c: c, ctx: ctx, cancel: cancel}
}

func (h *healthPoller) close() { h.cancel() }

// get returns the newest poll, polling again when it is older than the
// interval.
func (h *healthPoller) get() *Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last != nil && time.Since(h.at) < healthInterval {
		return h.last
	}
	h.last, h.at = h.poll(), time.Now()
	return h.last
}

func (h *healthPoller) poll() *Health {
	var peers []Peer
	if h.c.opts.Peers != nil {
		peers = h.c.opts.Peers()
	}
	out := &Health{Time: h.c.opts.Now(), Servers: make([]ServerHealth, len(peers))}
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out.Servers[i] = h.pollOne(p)
		}()
	}
	wg.Wait()
	sort.Slice(out.Servers, func(i, j int) bool { return out.Servers[i].ID < out.Servers[j].ID })
	// Lag: behind the leader when there is one, else behind the newest.
	var ref int64 = -1
	for _, s := range out.Servers {
		if s.Up && s.State == "leader" {
			ref = s.zxid
			id := s.ID
			out.Leader = &id
		}
	}
	if ref < 0 {
		for _, s := range out.Servers {
			if s.Up {
				ref = max(ref, s.zxid)
			}
		}
	}
	for i := range out.Servers {
		s := &out.Servers[i]
		if s.Up && ref >= 0 {
			lag := int64(0)
			if s.zxid < ref {
				if s.zxid>>32 == ref>>32 {
					lag = (ref - s.zxid) & 0xffffffff
				} else {
					lag = ref & 0xffffffff // a whole epoch behind: at least the leader's count
				}
			}
			s.Lag = &lag
		}
	}
	return out
}

func (h *healthPoller) pollOne(p Peer) ServerHealth {
	s := ServerHealth{ID: p.ID, URL: p.URL}
	var stat struct {
		Version     string `json:"version"`
		ServerStats struct {
			ServerState       string  `json:"server_state"`
			LastProcessedZxid int64   `json:"last_processed_zxid"`
			Outstanding       int64   `json:"outstanding_requests"`
			AvgLatency        float64 `json:"avg_latency"`
			MaxLatency        int64   `json:"max_latency"`
			Connections       int64   `json:"num_alive_client_connections"`
			Uptime            int64   `json:"uptime"`
		} `json:"server_stats"`
		NodeCount int64  `json:"node_count"`
		Error     string `json:"error"`
	}
	if err := h.getJSON(p.URL+h.c.opts.AdminPrefix+"/stat", &stat); err != nil {
		h.c.m.peerPolls.WithLabelValues("down").Inc()
		s.Error = err.Error()
		return s
	}
	h.c.m.peerPolls.WithLabelValues("ok").Inc()
	ss := stat.ServerStats
	s.Up, s.State, s.Version = true, ss.ServerState, stat.Version
	s.zxid, s.Zxid, s.Epoch = ss.LastProcessedZxid, hex64(ss.LastProcessedZxid), ss.LastProcessedZxid>>32
	s.Connections, s.Outstanding, s.AvgLatencyMs, s.MaxLatencyMs = ss.Connections, ss.Outstanding, ss.AvgLatency, ss.MaxLatency
	s.Znodes, s.UptimeMs = stat.NodeCount, ss.Uptime
	if mfs, err := h.getMetrics(p.URL + "/metrics"); err == nil {
		if mf := mfs["zkd_txnlog_fsync_duration_seconds"]; mf != nil {
			if q, ok := histogramQuantile(mf, 0.99); ok {
				ms := q * 1000
				s.FsyncP99Ms = &ms
			}
		}
		for name, mf := range mfs {
			if strings.Contains(name, "election") && strings.HasSuffix(name, "timestamp_seconds") && len(mf.GetMetric()) > 0 {
				if v := mf.GetMetric()[0].GetGauge().GetValue(); v > 0 {
					s.LastElection = time.Unix(0, int64(v*1e9)).UTC().Format(time.RFC3339)
				}
			}
		}
	}
	return s
}

func (h *healthPoller) get2(url string) (io.ReadCloser, error) {
	ctx, cancel := context.WithTimeout(h.ctx, 1500*time.Millisecond)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := h.c.opts.HTTPClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, 16<<20), closerFunc(func() error { defer cancel(); return resp.Body.Close() })}, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func (h *healthPoller) getJSON(url string, v any) error {
	body, err := h.get2(url)
	if err != nil {
		return err
	}
	defer body.Close()
	return json.NewDecoder(body).Decode(v)
}

func (h *healthPoller) getMetrics(url string) (map[string]*dto.MetricFamily, error) {
	body, err := h.get2(url)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(body)
}

// histogramQuantile estimates a quantile from cumulative buckets by linear
// interpolation, as PromQL's histogram_quantile does, over the process
// lifetime.
func histogramQuantile(mf *dto.MetricFamily, q float64) (float64, bool) {
	if len(mf.GetMetric()) == 0 || mf.GetMetric()[0].GetHistogram() == nil {
		return 0, false
	}
	hg := mf.GetMetric()[0].GetHistogram()
	total := float64(hg.GetSampleCount())
	if total == 0 {
		return 0, false
	}
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, b := range hg.GetBucket() {
		cnt := float64(b.GetCumulativeCount())
		if cnt >= rank {
			ub := b.GetUpperBound()
			if math.IsInf(ub, 1) {
				return prevBound, true
			}
			if cnt == prevCount {
				return ub, true
			}
			return prevBound + (ub-prevBound)*(rank-prevCount)/(cnt-prevCount), true
		}
		prevBound, prevCount = b.GetUpperBound(), cnt
	}
	return prevBound, true
}

func (c *Console) getHealth(ec echo.Context) error {
	return ec.JSON(http.StatusOK, c.health.get())
}

// getHealthStream sends the ensemble's health as server-sent events, at
// most one per healthInterval and only when something changed (with a
// comment every 15 s to keep proxies from closing the stream).
func (c *Console) getHealthStream(ec echo.Context) error {
	w := ec.Response()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	c.m.sseClients.Inc()
	defer c.m.sseClients.Dec()
	ctx := ec.Request().Context()
	tick := time.NewTicker(healthInterval)
	defer tick.Stop()
	var last []byte
	quiet := 0
	for {
		h := c.health.get()
		b, _ := json.Marshal(h.Servers)
		if string(b) != string(last) {
			full, _ := json.Marshal(h)
			if _, err := fmt.Fprintf(w, "event: health\ndata: %s\n\n", full); err != nil {
				return nil
			}
			last, quiet = b, 0
		} else if quiet++; quiet >= 15 {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			quiet = 0
		}
		w.Flush()
		select {
		case <-ctx.Done():
			return nil
		case <-c.health.ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
