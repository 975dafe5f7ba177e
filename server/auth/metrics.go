package auth

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count authentication attempts. A nil *Metrics is valid and
// records nothing.
//
// A burst of failed attempts is how a client with a wrong scheme (sasl or
// x509 against a server without those providers) shows up: ZooKeeper closes
// such connections, so the client reconnects and fails again. Successful
// logins as the super user are counted apart, because operators audit them.
type Metrics struct {
	attempts *prometheus.CounterVec
}

// Result labels of zkd_auth_attempts_total.
const (
	resultOK     = "ok"
	resultSuper  = "super"
	resultFailed = "failed"
)

// NewMetrics creates the auth metrics and registers them with reg. A nil reg
// means "no metrics": NewMetrics returns nil, nil.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_auth_attempts_total",
			Help: "Auth packets handled, by scheme (digest, ip, other) and result (ok, super, failed).",
		}, []string{"scheme", "result"}),
	}
	for _, scheme := range []string{SchemeDigest, SchemeIP} {
		m.attempts.WithLabelValues(scheme, resultOK)
	}
	m.attempts.WithLabelValues(SchemeDigest, resultSuper)
	m.attempts.WithLabelValues("other", resultFailed)
	if err := reg.Register(m.attempts); err != nil {
		return nil, fmt.Errorf("register auth metrics: %w", err)
	}
	return m, nil
}

// AddAuth is id.AddAuth(scheme, auth, superDigest), counted. The scheme
// label is "other" for schemes without a provider, so clients cannot grow
// the number of series.
func (m *Metrics) AddAuth(id *Identity, scheme string, auth []byte, superDigest string) error {
	err := id.AddAuth(scheme, auth, superDigest)
	if m == nil {
		return err
	}
	label := scheme
	if _, ok := lookupProvider(scheme); !ok {
		label = "other"
	}
	result := resultOK
	switch {
	case err != nil:
		result = resultFailed
	case scheme == SchemeDigest && superDigest != "" && digestOf(javaDecode(string(auth))).ID == superDigest:
		result = resultSuper
	}
	m.attempts.WithLabelValues(label, result).Inc()
	return err
}
