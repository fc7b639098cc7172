package siostream_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/refserver"
)

func TestInteropCompression(t *testing.T) {
	cases := []struct {
		name        string
		variant     string
		compression bool
		negotiated  bool
	}{
		{"deflate server, offered", refserver.Deflate, true, true},
		{"deflate server, not offered", refserver.Deflate, false, false},
		{"plain server, offered", refserver.Default, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := refserver.Shared(t, tc.variant)
			s := dial(t, srv.URL, siostream.Options{Compression: tc.compression})
			refWelcomeOf(t, s)
			var on bool
			if err := decodeArgs(refCall(t, s, "compressed?"), &on); err != nil || on != tc.negotiated {
				t.Fatalf("compressed? = %v (%v), want %v", on, err, tc.negotiated)
			}
			const n = 100 << 10
			t.Run("big", func(t *testing.T) {
				refCall(t, s, "big", n)
				ev := nextEvent(t, s, "big", refWait)
				var got string
				if err := ev.Decode(&got); err != nil || got != refPattern(n) {
					t.Fatalf("big: %d chars (%v)", len(got), err)
				}
			})
			t.Run("echo", func(t *testing.T) {
				refRoundTrip(t, s, refPattern(n), strings.Repeat("€", n/3))
			})
			t.Run("binary", func(t *testing.T) {
				refCall(t, s, "big-binary", n)
				var got []byte
				ev := nextEvent(t, s, "big-binary", refWait)
				if err := ev.Decode(&got); err != nil || len(got) != n {
					t.Fatalf("big-binary: %d bytes (%v)", len(got), err)
				}
				for i, b := range got {
					if b != byte(i) {
						t.Fatalf("byte %d = %d", i, b)
					}
				}
				blob := bytes.Repeat([]byte("0123456789"), n/10)
				refCall(t, s, "echo", blob)
				var back []byte
				ev = nextEvent(t, s, "echo", refWait)
				if err := ev.Decode(&back); err != nil || !bytes.Equal(back, blob) {
					t.Fatalf("echo of %d bytes: %d back (%v)", len(blob), len(back), err)
				}
			})
			t.Run("many small messages", func(t *testing.T) {
				refEmit(t, s, "flood", 2000, 300)
				pad := strings.Repeat("x", 300)
				for i := range 2000 {
					ev := nextEvent(t, s, "flood", refWait)
					var got int
					var p string
					if err := ev.Decode(&got, &p); err != nil || got != i || p != pad {
						t.Fatalf("flood %d: %s", i, truncated(ev.Args))
					}
				}
				if ev := nextEvent(t, s, "flood-done", refWait); string(ev.Args) != "[2000]" {
					t.Fatalf("flood-done %s", ev.Args)
				}
			})
			if st := s.Stats(); st.Reconnects != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
