package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/config"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/web"
	"github.com/zkd-io/zkd/web/console"
)

// mountConsole adds the web console (zkd.console.* keys) to the HTTP
// server. The returned func closes the console's ZooKeeper session.
// clientAddr is where the server listens for clients (an ensemble member
// may take it from its server.N line).
func mountConsole(httpSrv *web.Server, cfg *config.Config, zk *zkserver.Server, clientAddr string, reg prometheus.Registerer, logger zerolog.Logger) (func(), error) {
	settings, err := console.ParseSettings(cfg.Console)
	if err != nil {
		return nil, err
	}
	if !settings.Enabled {
		return func() {}, nil
	}
	con, err := console.New(console.Options{
		Tree:        zk.Tree,
		ZKAddr:      dialable(clientAddr),
		Peers:       func() []console.Peer { return consolePeers(cfg, settings) },
		AdminPrefix: cfg.AdminCommandURL,
		DataDir:     cfg.DataDir,
		DataLogDir:  cfg.TxnLogDir(),
		Settings:    settings,
		Registerer:  reg,
		Logger:      logger,
	})
	if err != nil {
		return nil, err
	}
	con.Register(httpSrv.Echo())
	if !settings.AuthRequired() && settings.AnonymousRole > console.RoleViewer {
		logger.Warn().Str("role", settings.AnonymousRole.String()).Msg("console: no users configured and zkd.console.anonymousRole lets anyone who reaches the HTTP port write")
	}
	return con.Close, nil
}

// dialable turns a listen address into one this process can dial.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(localHost(host), port)
}

// localHost turns a wildcard listen address into one this process can dial.
func localHost(h string) string {
	if h == "" || h == "0.0.0.0" || h == "::" {
		return "127.0.0.1"
	}
	return h
}

// consolePeers lists the servers the health page polls: every server.N
// at http://<host>:<zkd.httpPort> unless zkd.console.peer.N says
// otherwise; standalone, this node alone.
func consolePeers(cfg *config.Config, s console.Settings) []console.Peer {
	self := "http://" + net.JoinHostPort(localHost(cfg.HTTPAddress), strconv.Itoa(cfg.HTTPPort))
	if len(cfg.Servers) == 0 {
		id := cfg.MyID
		if id < 0 {
			id = 0
		}
		return []console.Peer{{ID: id, URL: self}}
	}
	out := make([]console.Peer, 0, len(cfg.Servers))
	for _, srv := range cfg.Servers {
		u, ok := s.Peers[srv.ID]
		switch {
		case ok:
		case srv.ID == cfg.MyID:
			u = self
		default:
			u = "http://" + net.JoinHostPort(srv.Host, strconv.Itoa(cfg.HTTPPort))
		}
		out = append(out, console.Peer{ID: srv.ID, URL: u})
	}
	return out
}

// runHashPassword prints the bcrypt hash for a zkd.console.user.<name>
// line, reading the password from stdin so it stays out of shell history.
func runHashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "user name: print a whole zkd.console.user.<name>=<role>:<hash> line")
	role := fs.String("role", "viewer", "role for -user: viewer, editor or admin")
	token := fs.Bool("token", false, "hash a bearer token (SHA-256) instead of a password")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := console.ParseRole(*role); err != nil {
		return fmt.Errorf("-role: %w", err)
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	secret := strings.TrimRight(line, "\r\n")
	if secret == "" {
		return errors.New("hash-password reads the password (or token) from stdin; got nothing")
	}
	var hash string
	if *token {
		hash = console.HashToken(secret)
	} else if hash, err = console.HashPassword(secret); err != nil {
		return err
	}
	switch {
	case *user != "" && *token:
		fmt.Fprintf(stdout, "zkd.console.token.%s=%s:%s\n", *user, *role, hash)
	case *user != "":
		fmt.Fprintf(stdout, "zkd.console.user.%s=%s:%s\n", *user, *role, hash)
	default:
		fmt.Fprintln(stdout, hash)
	}
	return nil
}
