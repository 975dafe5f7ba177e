package console

import (
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// AuditEntry is one change made (or attempted) through the console.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Kind   string    `json:"kind"` // user, token, anonymous
	Remote string    `json:"remote"`
	Op     string    `json:"op"`
	Path   string    `json:"path"`
	Result string    `json:"result"`         // ok, or the failure
	Zxid   string    `json:"zxid,omitempty"` // hex, for successful changes
	Detail string    `json:"detail,omitempty"`
	// Session is the console's ZooKeeper session, as the txn log shows it
	// (the explorer's session filter finds the change by it).
	Session string `json:"session,omitempty"`
}

// auditLog keeps the newest entries in memory for the audit view; the
// server log (one "console audit" line per entry) is the durable record.
type auditLog struct {
	mu      sync.Mutex
	entries []AuditEntry
	next    int
	full    bool
}

func newAuditLog(size int) *auditLog { return &auditLog{entries: make([]AuditEntry, size)} }

func (a *auditLog) add(e AuditEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries[a.next] = e
	a.next = (a.next + 1) % len(a.entries)
	if a.next == 0 {
		a.full = true
	}
}

// newest returns up to n entries, newest first.
func (a *auditLog) newest(n int) []AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	count := a.next
	if a.full {
		count = len(a.entries)
	}
	n = min(n, count)
	out := make([]AuditEntry, 0, n)
	for i := 0; i < n; i++ {
		idx := (a.next - 1 - i + len(a.entries)) % len(a.entries)
		out = append(out, a.entries[idx])
	}
	return out
}

func (c *Console) record(ec echo.Context, op, path, result string, zxid int64, detail string) {
	id := ident(ec)
	e := AuditEntry{Time: c.opts.Now(), User: id.Name, Kind: id.Kind, Remote: ec.RealIP(), Op: op, Path: path, Result: result, Detail: detail}
	if result == "ok" {
		e.Zxid = hex64(zxid)
	}
	c.closeMu.Lock()
	if c.zkConn != nil {
		e.Session = hex64(c.zkConn.SessionID())
	}
	c.closeMu.Unlock()
	c.audit.add(e)
	c.log.Info().Str("audit", "console").Str("user", e.User).Str("auth", e.Kind).Str("remote", e.Remote).
		Str("op", op).Str("path", path).Str("result", result).Str("zxid", e.Zxid).Str("session", e.Session).Str("detail", detail).Msg("console audit")
}

// Audit returns up to n audit entries, newest first.
func (c *Console) Audit(n int) []AuditEntry { return c.audit.newest(n) }

func (c *Console) getAudit(ec echo.Context) error {
	n, err := intParam(ec, "limit", 200, 1, 1000)
	if err != nil {
		return err
	}
	return ec.JSON(http.StatusOK, map[string]any{"entries": c.Audit(n)})
}
