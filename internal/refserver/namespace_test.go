package refserver_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/siostream/siostream/internal/refserver"
)

func TestConnectAndWelcome(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := dial(t, srv, dialOptions{
		query:  "room=lobby",
		header: http.Header{"X-Test": {"hello"}},
	})
	c.readOpen()
	r := c.connect("/", `{"token":"abc"}`)
	if r.PID != "" {
		t.Errorf("pid %q without recovery", r.PID)
	}
	w, extra := c.readWelcome("/")
	if len(extra) != 0 {
		t.Errorf("welcome has extra args %s without recovery", extra)
	}
	if w.ID != r.SID || w.Nsp != "/" || w.Auth["token"] != "abc" || w.Recovered {
		t.Errorf("welcome %+v", w)
	}
	if w.Query["room"] != "lobby" || w.Query["EIO"] != "4" || w.Query["transport"] != "websocket" {
		t.Errorf("welcome query %v", w.Query)
	}
	if w.Header == nil || *w.Header != "hello" {
		t.Errorf("welcome header %v, want hello", w.Header)
	}

	// Without the header, "header" is null; without auth, "auth" is {}.
	c2 := dial(t, srv, dialOptions{})
	c2.readOpen()
	c2.connect("/", "")
	w2, _ := c2.readWelcome("/")
	if w2.Header != nil || w2.Auth == nil || len(w2.Auth) != 0 {
		t.Errorf("welcome %+v: want header null and auth {}", w2)
	}
}

func TestCustomNamespace(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	for _, nsp := range []string{"/admin", "/realtime"} {
		c := dial(t, srv, dialOptions{})
		c.readOpen()
		r := c.connect(nsp, "")
		w, _ := c.readWelcome(nsp)
		if w.Nsp != nsp || w.ID != r.SID {
			t.Errorf("welcome %+v on %s", w, nsp)
		}
		c.send(`42` + nsp + `,1["ack","a"]`)
		c.expect(`43` + nsp + `,1["a"]`)
		c.send(`42` + nsp + `,["echo","b"]`)
		c.expect(`42` + nsp + `,["echo","b"]`)

		// Several namespaces share one connection.
		c.connect("/", "")
		c.readWelcome("/")
		c.send(`421["ack","main"]`)
		c.expect(`431["main"]`)
	}
}

func TestSecureNamespace(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := dial(t, srv, dialOptions{})
	c.readOpen()

	c.send(`40/secure,{"token":"bad-data"}`)
	c.expect(`44/secure,{"message":"Not authorized","data":{"code":4001,"reason":"token rejected"}}`)

	c.send(`40/secure,{"token":"nope"}`)
	c.expect(`44/secure,{"message":"Not authorized"}`)

	c.send(`40/secure,`)
	c.expect(`44/secure,{"message":"Not authorized"}`)

	c.connect("/secure", `{"token":"good-42"}`)
	w, _ := c.readWelcome("/secure")
	if w.Auth["token"] != "good-42" {
		t.Errorf("welcome %+v", w)
	}
}

func TestUnknownNamespace(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := dial(t, srv, dialOptions{})
	c.readOpen()
	c.send(`40/nope,`)
	c.expect(`44/nope,{"message":"Invalid namespace"}`)
	// The connection stays usable.
	c.connect("/", "")
	c.readWelcome("/")
}

func TestOnceNamespace(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	token := fmt.Sprintf("tok-%d", time.Now().UnixNano())
	c := dial(t, srv, dialOptions{})
	c.readOpen()

	c.send(`40/once,`)
	c.expect(`44/once,{"message":"no token"}`)

	c.connect("/", "")
	c.readWelcome("/")
	c.connect("/once", `{"token":"`+token+`"}`)
	c.readWelcome("/once")
	c.send(`41/once,`)
	// The server handles a DISCONNECT one tick after decoding it; a CONNECT
	// for the same namespace arriving before that makes it close the whole
	// connection ("invalid state"). An ack round trip on another namespace
	// makes sure the DISCONNECT has been handled.
	c.send(`421["ack"]`)
	c.expect(`431[]`)

	c.send(`40/once,{"token":"` + token + `"}`)
	c.expect(`44/once,{"message":"token reused","data":{"token":"` + token + `"}}`)

	c.connect("/once", `{"token":"`+token+`-2"}`)
	c.readWelcome("/once")
}

func TestServerDisconnects(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)

	t.Run("disconnect-me", func(t *testing.T) {
		c := open(t, srv, "/admin")
		c.connect("/", "")
		c.readWelcome("/")
		c.send(`42/admin,["disconnect-me"]`)
		c.expect(`41/admin,`)
		// Only that namespace is gone.
		c.send(`421["ack","still"]`)
		c.expect(`431["still"]`)
	})
	t.Run("disconnect-me-all", func(t *testing.T) {
		c := open(t, srv, "/")
		c.send(`42["disconnect-me-all"]`)
		c.expect(`41`)
		c.expectClosed(readTimeout)
	})
	t.Run("drop-me", func(t *testing.T) {
		c := open(t, srv, "/")
		c.send(`42["drop-me"]`)
		c.expectClosed(readTimeout) // no 41, no 1: the socket is just closed
	})
}
