package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func TestPprofOnlyWhenEnabled(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		s := New(Options{Gatherer: prometheus.NewRegistry(), Logger: zerolog.Nop(), Pprof: enabled})
		ts := httptest.NewServer(s.Echo())
		resp, err := http.Get(ts.URL + "/debug/pprof/goroutine?debug=1")
		ts.Close()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusNotFound
		if enabled {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("pprof enabled=%v: GET /debug/pprof/goroutine = %d, want %d", enabled, resp.StatusCode, want)
		}
	}
}
