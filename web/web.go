// Package web serves zkd's HTTP port: Prometheus metrics at /metrics and,
// as they land, the AdminServer-style commands and the console. It is one
// echo server run as a dskit service beside the ZooKeeper server.
package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Options configure the HTTP server.
type Options struct {
	// Addr is the listen address, e.g. "127.0.0.1:8080".
	Addr string
	// Gatherer is the registry /metrics exposes.
	Gatherer prometheus.Gatherer
	// Registerer receives the HTTP server's own metrics (nil: none).
	Registerer prometheus.Registerer
	Logger     zerolog.Logger
	// Pprof serves /debug/pprof/ (zkd.pprof.enabled).
	Pprof bool
}

// Server is the HTTP server.
type Server struct {
	services.Service
	opts Options
	echo *echo.Echo
	ln   net.Listener
	errc chan error
}

// New builds the HTTP server; routes can be added with Echo before it starts.
func New(opts Options) *Server {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.GET("/metrics", echo.WrapHandler(promhttp.InstrumentMetricHandler(
		registererOrNop(opts.Registerer),
		promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{EnableOpenMetrics: true}),
	)))
	if opts.Pprof {
		// Go's profiler, as etcd serves it with --enable-pprof: CPU,
		// heap, goroutine and block profiles for `go tool pprof`.
		e.GET("/debug/pprof/*", echo.WrapHandler(http.HandlerFunc(pprof.Index)))
		e.GET("/debug/pprof/cmdline", echo.WrapHandler(http.HandlerFunc(pprof.Cmdline)))
		e.GET("/debug/pprof/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)))
		e.GET("/debug/pprof/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
		e.GET("/debug/pprof/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)))
	}
	s := &Server{opts: opts, echo: e, errc: make(chan error, 1)}
	s.Service = services.NewBasicService(s.starting, s.running, s.stopping)
	return s
}

// Echo returns the router, for packages that add routes.
func (s *Server) Echo() *echo.Echo { return s.echo }

// Addr returns the bound address once started.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

func (s *Server) starting(context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("http port: %w", err)
	}
	s.ln = ln
	s.opts.Logger.Info().Str("addr", ln.Addr().String()).Msg("serving HTTP (metrics)")
	go func() {
		srv := &http.Server{Handler: s.echo, ReadHeaderTimeout: 10 * time.Second}
		s.echo.Server = srv
		s.errc <- srv.Serve(ln)
	}()
	return nil
}

func (s *Server) running(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("http server: %w", err)
	}
}

func (s *Server) stopping(error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.echo.Server != nil {
		return s.echo.Server.Shutdown(ctx)
	}
	return nil
}

type nopRegisterer struct{}

func (nopRegisterer) Register(prometheus.Collector) error  { return nil }
func (nopRegisterer) MustRegister(...prometheus.Collector) {}
func (nopRegisterer) Unregister(prometheus.Collector) bool { return false }

func registererOrNop(r prometheus.Registerer) prometheus.Registerer {
	if r == nil {
		return nopRegisterer{}
	}
	return r
}
