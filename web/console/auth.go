package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"
)

const (
	sessionCookie = "zkd_console_session"
	sessionTTL    = 12 * time.Hour
	maxSessions   = 10000
)

// identity is who is calling: a user (cookie session), a token, or
// anonymous.
type identity struct {
	Name string // "anonymous" for anonymous callers
	Kind string // user, token, anonymous
	Role Role
}

type session struct {
	user    string
	role    Role
	expires time.Time
}

// sessionStore keeps login sessions in memory: a restart logs everyone
// out, which is the safe direction.
type sessionStore struct {
	mu   sync.Mutex
	now  func() time.Time
	byID map[string]session
}

func newSessionStore(now func() time.Time) *sessionStore {
	return &sessionStore{now: now, byID: map[string]session{}}
}

func (s *sessionStore) create(user string, role Role) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.byID) >= maxSessions {
		for k, v := range s.byID {
			if now.After(v.expires) {
				delete(s.byID, k)
			}
		}
	}
	s.byID[id] = session{user: user, role: role, expires: now.Add(sessionTTL)}
	return id
}

func (s *sessionStore) get(id string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byID[id]
	if !ok || s.now().After(v.expires) {
		delete(s.byID, id)
		return session{}, false
	}
	return v, true
}

func (s *sessionStore) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// identify resolves the caller: a bearer token, else a session cookie,
// else anonymous (RoleNone when users are configured).
func (c *Console) identify(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		st := &c.opts.Settings
		id := identity{Name: "anonymous", Kind: "anonymous", Role: RoleNone}
		if !st.AuthRequired() {
			id.Role = st.AnonymousRole
		}
		if tok := bearer(ec.Request()); tok != "" {
			h := sha256.Sum256([]byte(tok))
			found := false
			for _, t := range st.Tokens {
				if subtle.ConstantTimeCompare(h[:], t.SHA256[:]) == 1 {
					id, found = identity{Name: t.Name, Kind: "token", Role: t.Role}, true
					break
				}
			}
			if !found {
				c.m.authFailures.Inc()
				c.log.Warn().Str("remote", ec.RealIP()).Msg("console: unknown bearer token")
				return jsonError(ec, http.StatusUnauthorized, "unknown bearer token")
			}
		} else if ck, err := ec.Cookie(sessionCookie); err == nil && ck.Value != "" {
			if s, ok := c.sess.get(ck.Value); ok {
				id = identity{Name: s.user, Kind: "user", Role: s.role}
			}
		}
		ec.Set("identity", id)
		return next(ec)
	}
}

func ident(ec echo.Context) identity {
	id, _ := ec.Get("identity").(identity)
	return id
}

// require answers 401 to callers with no role and 403 to those whose role
// is below min.
func (c *Console) require(min Role, next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		id := ident(ec)
		if id.Role == RoleNone {
			return jsonError(ec, http.StatusUnauthorized, "log in first")
		}
		if id.Role < min {
			c.m.forbidden.Inc()
			return jsonError(ec, http.StatusForbidden, "%s %q may not do this (needs %s)", id.Role, id.Name, min)
		}
		return next(ec)
	}
}

type sessionInfo struct {
	User         string `json:"user"`
	Kind         string `json:"kind"`
	Role         string `json:"role"`
	AuthRequired bool   `json:"authRequired"`
	CSRF         string `json:"csrf"`
	// ExtendedTypes says whether TTL nodes can be offered.
	ZKAddr string `json:"zkAddr"`
}

func (c *Console) sessionInfo(ec echo.Context, id identity) sessionInfo {
	tok, _ := ec.Get("csrf").(string)
	return sessionInfo{User: id.Name, Kind: id.Kind, Role: id.Role.String(), AuthRequired: c.opts.Settings.AuthRequired(), CSRF: tok, ZKAddr: c.opts.ZKAddr}
}

func (c *Console) getSession(ec echo.Context) error {
	return ec.JSON(http.StatusOK, c.sessionInfo(ec, ident(ec)))
}

type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// dummyHash makes a login for an unknown user cost as much as one for a
// known user (hashed at the default cost), so response times do not tell
// which names exist. Computed on first use, not at start-up.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("zkd-console-dummy"), bcrypt.DefaultCost)
	return h
})

func (c *Console) postLogin(ec echo.Context) error {
	var req loginRequest
	if err := ec.Bind(&req); err != nil {
		return jsonError(ec, http.StatusBadRequest, "bad login request: %v", err)
	}
	u, ok := c.opts.Settings.Users[req.User]
	var hash []byte
	if ok {
		hash = u.Hash
	} else {
		hash = dummyHash()
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(req.Password)); err != nil || !ok {
		c.m.authFailures.Inc()
		c.log.Warn().Str("remote", ec.RealIP()).Str("user", req.User).Msg("console: failed login")
		return jsonError(ec, http.StatusUnauthorized, "wrong user name or password")
	}
	id := c.sess.create(u.Name, u.Role)
	ec.SetCookie(&http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: ec.Request().TLS != nil, MaxAge: int(sessionTTL.Seconds())})
	c.log.Info().Str("remote", ec.RealIP()).Str("user", u.Name).Str("role", u.Role.String()).Msg("console: login")
	return ec.JSON(http.StatusOK, c.sessionInfo(ec, identity{Name: u.Name, Kind: "user", Role: u.Role}))
}

func (c *Console) postLogout(ec echo.Context) error {
	if ck, err := ec.Cookie(sessionCookie); err == nil {
		c.sess.drop(ck.Value)
	}
	ec.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	return ec.NoContent(http.StatusNoContent)
}

// HashPassword returns the bcrypt hash a user.<name> key takes.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}
