package ensembletest

import (
	"os"
	"strings"
	"testing"
)

// KindEnv names the environment variable that selects which kinds of
// ensemble fault tests run against: "apache", "zkd" or "both" (the default).
const KindEnv = "ZKD_ENSEMBLE_KIND"

// KindsFromEnv returns the kinds KindEnv selects; an unknown value fails
// the test.
func KindsFromEnv(t testing.TB) []Kind {
	t.Helper()
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv(KindEnv))); v {
	case "", "both":
		return []Kind{Apache, Zkd}
	case "apache":
		return []Kind{Apache}
	case "zkd":
		return []Kind{Zkd}
	default:
		t.Fatalf("ensembletest: %s=%q: want apache, zkd or both", KindEnv, v)
		return nil
	}
}

// ForEachKind runs f as one subtest per kind KindsFromEnv selects, named
// after the kind (TestX/apache, TestX/zkd). A zkd without quorum mode
// skips its subtest in Start.
func ForEachKind(t *testing.T, f func(t *testing.T, kind Kind)) {
	t.Helper()
	for _, k := range KindsFromEnv(t) {
		t.Run(string(k), func(t *testing.T) { f(t, k) })
	}
}
