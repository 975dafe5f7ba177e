package console

import (
	"strings"
	"testing"
)

// FuzzParseSettings: any zkd.console.* key and value either parses or is
// an error naming the key; never a panic.
func FuzzParseSettings(f *testing.F) {
	for _, seed := range [][2]string{
		{"user.a", "admin:$2a$10$abcdefghijklmnopqrstuv"},
		{"token.t", "viewer:sha256:" + strings.Repeat("ab", 32)},
		{"peer.1", "http://h:8080"},
		{"zkAuth", "digest:u:p"},
		{"anonymousRole", "editor"},
		{"enabled", "false"},
		{"peer.-1", "https://[::1]:1"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, k, v string) {
		_, err := ParseSettings(map[string]string{k: v})
		if err != nil && !strings.Contains(err.Error(), "zkd.console."+k) {
			t.Errorf("error does not name the key %q: %v", k, err)
		}
	})
}
