// Package zkservertest starts in-process zkd servers for tests, in the
// manner of net/http/httptest. It is separate from testpeer (real Apache
// peers) because testpeer is imported by packages that zkserver imports.
package zkservertest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/zkserver"
)

// Start runs an in-process zkd server for a test and stops it at the
// end. Unset options get test defaults: a free port on 127.0.0.1 and a
// 2 s tick. Logs are discarded unless ZKD_TEST_LOG is set, which sends them
// to stderr in console format.
func Start(t testing.TB, opts zkserver.Options) *zkserver.Server {
	t.Helper()
	if opts.ListenAddr == "" {
		opts.ListenAddr = fmt.Sprintf("127.0.0.1:%d", testpeer.FreePort(t, "127.0.0.1"))
	}
	if opts.TickTime == 0 {
		opts.TickTime = 2 * time.Second
	}
	opts.Logger = zerolog.Nop()
	if os.Getenv("ZKD_TEST_LOG") != "" {
		opts.Logger = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Logger()
	}
	srv, err := zkserver.New(opts)
	if err != nil {
		t.Fatalf("zkd: %v", err)
	}
	ctx := t.Context()
	if err := srv.StartAsync(ctx); err != nil {
		t.Fatalf("zkd: %v", err)
	}
	if err := srv.AwaitRunning(ctx); err != nil {
		t.Fatalf("zkd: %v", err)
	}
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run; wait on a
		// fresh context so the server has really stopped (its store
		// closed) before the test's directories go.
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.StopAsync()
		_ = srv.AwaitTerminated(stopCtx)
	})
	return srv
}
