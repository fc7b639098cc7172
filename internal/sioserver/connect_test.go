package sioserver

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConnectAuthorize(t *testing.T) {
	authorize := func(ns string, auth json.RawMessage) *Reject {
		var a struct{ Token string }
		_ = json.Unmarshal(auth, &a)
		switch {
		case ns != "/secure" || a.Token == "good":
			return nil
		case a.Token == "bad-data":
			return &Reject{Message: "Not authorized", Data: map[string]int{"code": 4001}}
		}
		return &Reject{Message: "Not authorized"}
	}
	s := newServer(t, Options{Authorize: authorize})
	tc := dialOpen(t, s)
	cases := []struct {
		ns   string
		auth string
		want string
	}{
		{
			ns:   "/secure",
			auth: `{"token":"bad-data"}`,
			want: `44/secure,{"message":"Not authorized","data":{"code":4001}}`,
		},
		{
			ns:   "/secure",
			auth: ``,
			want: `44/secure,{"message":"Not authorized"}`,
		},
		{
			ns:   "/secure",
			auth: `{"token":"good"}`,
			want: `40/secure,{"sid":`,
		},
		{
			ns:   "/",
			auth: ``,
			want: `40{"sid":`,
		},
	}
	for _, c := range cases {
		got := tc.connect(c.ns, c.auth)
		if !strings.HasPrefix(got, c.want) {
			t.Fatalf(
				"CONNECT %s %s: got %q, want %q",
				c.ns, c.auth, got, c.want,
			)
		}
	}
	auths := s.Auths("/secure")
	if len(auths) != 3 || string(auths[0]) != `{"token":"bad-data"}` || auths[1] != nil {
		t.Fatalf(
			"Auths(/secure) = %q",
			auths,
		)
	}
	if s.Connects("/secure") != 1 || s.Connects("/") != 1 {
		t.Fatalf(
			"Connects = %d, %d, want 1, 1",
			s.Connects("/secure"), s.Connects("/"),
		)
	}
}

func TestConnectTimeout(t *testing.T) {
	s := newServer(t, Options{ConnectTimeout: 50 * time.Millisecond})
	dialOpen(t, s)
	c := accept(t, s)
	if err := waitClosed(t, c); !errors.Is(err, ErrConnectTimeout) {
		t.Fatalf(
			"Err() = %v, want ErrConnectTimeout",
			err,
		)
	}
}
