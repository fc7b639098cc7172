package siostream_test

import (
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
)

// TestCookiesAcrossReconnect: with a Jar, the cookie the server sets in
// its handshake response is sent on the handshake of the reconnect (a
// sticky session behind a load balancer); without one, nothing is.
func TestCookiesAcrossReconnect(t *testing.T) {
	srv := newServer(t, sioserver.Options{UpgradeHeader: http.Header{"Set-Cookie": {"route=b7; Path=/"}}})
	for _, tc := range []struct {
		name string
		jar  bool
		want string
	}{
		{name: "with a jar", jar: true, want: "route=b7"},
		{name: "without", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := siostream.Options{}
			if tc.jar {
				jar, err := cookiejar.New(nil)
				if err != nil {
					t.Fatal(err)
				}
				opts.Jar = jar
			}
			s := dial(t, srv.URL(), opts)
			c := accept(t, srv)
			if got := c.RequestHeader().Get("Cookie"); got != "" {
				t.Fatalf("first handshake sent Cookie %q", got)
			}
			c.Drop()
			next(t, s, siostream.KindConnected, 5*time.Second)
			c = accept(t, srv)
			if got := c.RequestHeader().Get("Cookie"); got != tc.want {
				t.Fatalf("reconnect sent Cookie %q, want %q", got, tc.want)
			}
		})
	}
}
