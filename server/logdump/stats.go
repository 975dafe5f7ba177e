package logdump

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zkd-io/zkd/server/txnlog"
)

// Stats summarises the txns that pass a filter.
type Stats struct {
	Txns           int            `json:"txns"`
	Bytes          int64          `json:"bytes"` // of the records on disk
	ByType         map[string]int `json:"by_type"`
	SubOpsByType   map[string]int `json:"multi_ops_by_type,omitempty"`
	Writes         []PrefixWrites `json:"writes_by_prefix"`
	SessionsOpened int            `json:"sessions_created"`
	SessionsClosed int            `json:"sessions_closed"`
	FirstZxid      string         `json:"first_zxid,omitempty"`
	LastZxid       string         `json:"last_zxid,omitempty"`
	FirstTime      string         `json:"first_time,omitempty"`
	LastTime       string         `json:"last_time,omitempty"`
	SpanMs         int64          `json:"span_ms"`
	Epochs         []EpochStats   `json:"epochs"`
	Problems       []Problem      `json:"problems,omitempty"`
}

// PrefixWrites counts the writes under one path prefix.
type PrefixWrites struct {
	Prefix    string `json:"prefix"`
	Writes    int    `json:"writes"`
	DataBytes int64  `json:"data_bytes"`
}

// EpochStats counts one epoch's txns.
type EpochStats struct {
	Epoch     int64  `json:"epoch"`
	Txns      int    `json:"txns"`
	FirstZxid string `json:"first_zxid"`
	LastZxid  string `json:"last_zxid"`
}

// Prefix returns the first depth components of path ("/a/b/c", 1 -> "/a").
func Prefix(path string, depth int) string {
	if depth <= 0 {
		return "/"
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) > depth {
		parts = parts[:depth]
	}
	return "/" + strings.Join(parts, "/")
}

// ComputeStats gathers Stats over the txns of in that pass opts.Filter;
// writes are grouped by the first depth path components.
func ComputeStats(in *Input, opts Options, depth int) (*Stats, error) {
	s := &Stats{ByType: map[string]int{}, SubOpsByType: map[string]int{}}
	writes := map[string]*PrefixWrites{}
	var first, last, firstT, lastT int64
	err := scanLogs(in, opts.Filter.FromZxid, func(e *txnlog.Entry) error {
		t := NewTxn(e, time.UTC)
		if !opts.Filter.Match(&t, e.Hdr.Zxid, e.Hdr.ClientID) {
			return nil
		}
		z := e.Hdr.Zxid
		if s.Txns == 0 {
			first, firstT, lastT = z, t.TimeMs, t.TimeMs
		}
		s.Txns++
		last = z
		firstT, lastT = min(firstT, t.TimeMs), max(lastT, t.TimeMs)
		s.Bytes += e.Size
		s.ByType[t.Type]++
		switch t.Type {
		case "createSession":
			s.SessionsOpened++
		case "closeSession":
			s.SessionsClosed++
		}
		if n := len(s.Epochs); n == 0 || s.Epochs[n-1].Epoch != z>>32 {
			s.Epochs = append(s.Epochs, EpochStats{Epoch: z >> 32, FirstZxid: hex64(z)})
		}
		ep := &s.Epochs[len(s.Epochs)-1]
		ep.Txns++
		ep.LastZxid = hex64(z)
		count := func(o *Op, applied bool) {
			if !applied {
				return
			}
			add := func(p string, data int64) {
				k := Prefix(p, depth)
				pw := writes[k]
				if pw == nil {
					pw = &PrefixWrites{Prefix: k}
					writes[k] = pw
				}
				pw.Writes++
				pw.DataBytes += data
			}
			if o.Path != "" && o.Type != "check" {
				var n int64
				if o.Data != nil {
					n = int64(len(*o.Data))
				}
				add(o.Path, n)
			}
			if o.Ephemerals != nil {
				for _, p := range *o.Ephemerals {
					add(p, 0)
				}
			}
		}
		count(&t.Op, true)
		for i := range t.Ops {
			s.SubOpsByType[t.Ops[i].Type]++
			count(&t.Ops[i], t.FailedOp == 0)
		}
		return nil
	}, func(p Problem) { s.Problems = append(s.Problems, p) })
	if err != nil {
		return nil, err
	}
	if s.Txns > 0 {
		s.FirstZxid, s.LastZxid = hex64(first), hex64(last)
		s.FirstTime = time.UnixMilli(firstT).In(opts.loc()).Format(timeFormat)
		s.LastTime = time.UnixMilli(lastT).In(opts.loc()).Format(timeFormat)
		s.SpanMs = lastT - firstT
	}
	for _, w := range writes {
		s.Writes = append(s.Writes, *w)
	}
	sort.Slice(s.Writes, func(i, j int) bool {
		if s.Writes[i].Writes != s.Writes[j].Writes {
			return s.Writes[i].Writes > s.Writes[j].Writes
		}
		return s.Writes[i].Prefix < s.Writes[j].Prefix
	})
	if len(s.SubOpsByType) == 0 {
		s.SubOpsByType = nil
	}
	return s, nil
}

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// WriteStats prints s, as JSON or as a human report.
func WriteStats(w io.Writer, s *Stats, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "txns:\t%d (%d bytes of records)\n", s.Txns, s.Bytes)
	if s.Txns > 0 {
		fmt.Fprintf(tw, "zxids:\t%s..%s\n", s.FirstZxid, s.LastZxid)
		fmt.Fprintf(tw, "time:\t%s..%s (%s)\n", s.FirstTime, s.LastTime, time.Duration(s.SpanMs)*time.Millisecond)
	}
	fmt.Fprintf(tw, "sessions:\t%d created, %d closed\n", s.SessionsOpened, s.SessionsClosed)
	for _, e := range s.Epochs {
		fmt.Fprintf(tw, "epoch %d:\t%d txns %s..%s\n", e.Epoch, e.Txns, e.FirstZxid, e.LastZxid)
	}
	fmt.Fprintln(tw, "\nby type:")
	for _, k := range sortedKeys(s.ByType) {
		fmt.Fprintf(tw, "  %s\t%d\n", k, s.ByType[k])
	}
	if len(s.SubOpsByType) > 0 {
		fmt.Fprintln(tw, "\nmulti sub-ops by type:")
		for _, k := range sortedKeys(s.SubOpsByType) {
			fmt.Fprintf(tw, "  %s\t%d\n", k, s.SubOpsByType[k])
		}
	}
	fmt.Fprintln(tw, "\nwrites by path prefix:\twrites\tdata bytes")
	for _, p := range s.Writes {
		fmt.Fprintf(tw, "  %s\t%d\t%d\n", p.Prefix, p.Writes, p.DataBytes)
	}
	for _, p := range s.Problems {
		fmt.Fprintf(tw, "! %s\n", p)
	}
	return tw.Flush()
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if m[ks[i]] != m[ks[j]] {
			return m[ks[i]] > m[ks[j]]
		}
		return ks[i] < ks[j]
	})
	return ks
}
