package siostream

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestStateNames(t *testing.T) {
	checkNames(t, map[streamState]string{
		streamJoining:      "joining",
		streamConnected:    "connected",
		streamReconnecting: "reconnecting",
		streamClosed:       "closed",
	})
	checkNames(t, map[managerState]string{
		managerIdle:         "idle",
		managerConnecting:   "connecting",
		managerConnected:    "connected",
		managerReconnecting: "reconnecting",
		managerClosed:       "closed",
	})
}

func checkNames[S interface {
	comparable
	String() string
}](t *testing.T, names map[S]string) {
	t.Helper()
	for s, want := range names {
		if s.String() != want {
			t.Errorf("%T is %q, want %q", s, s.String(), want)
		}
	}
}

// TestManagerSetState: setState moves the Manager to any state but out of
// closed. Which moves happen when (a Dial, a lost connection) needs a
// connection: the integration tests cover them.
func TestManagerSetState(t *testing.T) {
	all := []managerState{managerIdle, managerConnecting, managerConnected, managerReconnecting, managerClosed}
	for _, from := range all {
		for _, to := range all {
			m, err := NewManager("http://127.0.0.1:1", Options{})
			if err != nil {
				t.Fatal(err)
			}
			m.mu.Lock()
			m.state = from
			m.setState(to)
			got := m.state
			m.mu.Unlock()
			want := to
			if from == managerClosed {
				want = managerClosed
			}
			if got != want {
				t.Errorf("%v -> %v: %v, want %v", from, to, got, want)
			}
		}
	}
}

// TestManagerClose: a closed Manager stays closed and refuses to dial.
func TestManagerClose(t *testing.T) {
	m, err := NewManager("http://127.0.0.1:1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.state != managerIdle {
		t.Fatalf("new Manager %v, want idle", m.state)
	}
	m.Close()
	m.Close()
	if m.state != managerClosed {
		t.Fatalf("closed Manager %v, want closed", m.state)
	}
	if _, err := m.Dial(context.Background(), Options{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Dial after Close: %v, want ErrClosed", err)
	}
}

// step is one transition of a stream in TestStreamTransitions.
type step struct {
	to      streamState
	event   Kind  // lifecycle event delivered with it, 0 for none
	cause   error // for streamClosed
	byClose bool  // streamClosed through Close (else the stream ended by itself)
}

// TestStreamTransitions drives a Stream through transition(), the one
// place its state changes, and checks what each state means: the
// lifecycle events in order, ID only while connected, the joined channel
// answered only when the stream ends while joining, Err, and the Events
// channel closed at the end. The moves the connection makes (a CONNECT
// reply, a lost connection, the server's DISCONNECT) are covered by the
// integration tests.
func TestStreamTransitions(t *testing.T) {
	refused := errors.New("refused")
	cases := []struct {
		name   string
		steps  []step
		events []Kind
		err    error
		joined error // what Dial is told, nil when nothing
	}{
		{
			name:   "connected, lost, connected again, ended by the server",
			steps:  []step{{to: streamConnected, event: KindConnected}, {to: streamReconnecting, event: KindDisconnected}, {to: streamConnected, event: KindConnected}, {to: streamClosed, event: KindDisconnected, cause: ErrServerDisconnect}},
			events: []Kind{KindConnected, KindDisconnected, KindConnected, KindDisconnected},
			err:    ErrServerDisconnect,
		},
		{
			name:   "refused while joining",
			steps:  []step{{to: streamClosed, cause: refused}},
			err:    refused,
			joined: refused,
		},
		{
			name:   "closed while joining",
			steps:  []step{{to: streamClosed, event: KindDisconnected, cause: ErrClosed, byClose: true}},
			events: []Kind{KindDisconnected},
			err:    ErrClosed,
			joined: ErrClosed,
		},
		{
			name:   "closed while reconnecting",
			steps:  []step{{to: streamConnected, event: KindConnected}, {to: streamReconnecting, event: KindDisconnected}, {to: streamClosed, event: KindDisconnected, cause: ErrClosed, byClose: true}},
			events: []Kind{KindConnected, KindDisconnected, KindDisconnected},
			err:    ErrClosed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, st := bareStream(t, Options{}, Options{})
			st.sid = "sid"
			for _, s := range tc.steps {
				st.attempts = 3
				st.active.Store(&link{})
				var ev *Event
				if s.event != 0 {
					e := lifecycleOf(s.event)
					ev = &e
				}
				st.mu.Lock()
				st.transition(s.to, ev, s.cause, s.byClose)
				st.mu.Unlock()
				if st.state != s.to {
					t.Fatalf("state %v after a transition to %v", st.state, s.to)
				}
				if id := st.ID(); (id != "") != (s.to == streamConnected) {
					t.Errorf("%v: ID() %q", s.to, id)
				}
				switch s.to {
				case streamConnected:
					if st.attempts != 0 {
						t.Errorf("connected with %d refused joins counted", st.attempts)
					}
				case streamReconnecting, streamClosed:
					if st.active.Load() != nil {
						t.Errorf("%v still joined on a connection", s.to)
					}
				}
			}
			var got []Kind
			for ev := range st.Events() {
				got = append(got, ev.Kind)
			}
			if !slices.Equal(got, tc.events) {
				t.Errorf("events %v, want %v", got, tc.events)
			}
			if !errors.Is(st.Err(), tc.err) {
				t.Errorf("Err() %v, want %v", st.Err(), tc.err)
			}
			select {
			case err := <-st.joined:
				if err != tc.joined {
					t.Errorf("Dial told %v, want %v", err, tc.joined)
				}
			default:
				if tc.joined != nil {
					t.Errorf("Dial told nothing, want %v", tc.joined)
				}
			}
			select {
			case <-st.closing:
			default:
				t.Errorf("closing channel open after the stream ended")
			}
			if err := st.Close(); err != nil || !errors.Is(st.Err(), tc.err) {
				t.Errorf("Close after the end: %v, Err() %v", err, st.Err())
			}
		})
	}
}
