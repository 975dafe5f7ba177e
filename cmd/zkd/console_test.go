package main

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/zkd-io/zkd/server/config"
	"github.com/zkd-io/zkd/web/console"
)

func TestConsolePeers(t *testing.T) {
	cfg := config.Default()
	cfg.HTTPAddress, cfg.HTTPPort = "0.0.0.0", 8080
	s, _ := console.ParseSettings(map[string]string{"peer.3": "http://10.0.0.3:9000"})
	if got := consolePeers(cfg, s); len(got) != 1 || got[0].URL != "http://127.0.0.1:8080" || got[0].ID != 0 {
		t.Errorf("standalone: %+v", got)
	}
	cfg.MyID = 1
	cfg.Servers = []config.Server{{ID: 1, Host: "zkd1"}, {ID: 2, Host: "zkd2"}, {ID: 3, Host: "zkd3"}}
	got := consolePeers(cfg, s)
	want := []string{"http://127.0.0.1:8080", "http://zkd2:8080", "http://10.0.0.3:9000"}
	for i, p := range got {
		if p.URL != want[i] || p.ID != int64(i+1) {
			t.Errorf("peer %d: %+v, want %s", i, p, want[i])
		}
	}
}

func TestHashPassword(t *testing.T) {
	var out, errb bytes.Buffer
	if err := runHashPassword([]string{"-user", "demo", "-role", "admin"}, strings.NewReader("s3cret\n"), &out, &errb); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(out.String())
	hash, ok := strings.CutPrefix(line, "zkd.console.user.demo=admin:")
	if !ok || bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")) != nil {
		t.Fatalf("line %q", line)
	}
	s, err := console.ParseSettings(map[string]string{"user.demo": strings.TrimPrefix(line, "zkd.console.user.demo=")})
	if err != nil || s.Users["demo"].Role != console.RoleAdmin {
		t.Errorf("the printed line does not parse back: %v", err)
	}
	out.Reset()
	if err := runHashPassword([]string{"-token"}, strings.NewReader("tok"), &out, &errb); err != nil || strings.TrimSpace(out.String()) != console.HashToken("tok") {
		t.Errorf("token: %q %v", out.String(), err)
	}
	if err := runHashPassword(nil, strings.NewReader(""), &out, &errb); err == nil {
		t.Error("empty password accepted")
	}
	if err := runHashPassword([]string{"-role", "root"}, strings.NewReader("x\n"), &out, &errb); err == nil {
		t.Error("bad role accepted")
	}
}
