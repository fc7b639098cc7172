package siostream

import (
	"context"
	"errors"
	"log/slog"
	"net/http/cookiejar"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The fields of Options, as its documentation groups them: NewManager
// takes the connection fields, Manager.Dial the namespace fields, and Dial
// all of them.
var (
	connectionFields = []string{"Path", "Header", "TLSConfig", "NetDial", "Proxy", "Jar", "ConnectTimeout", "WriteTimeout",
		"NoReconnect", "ReconnectDelay", "ReconnectDelayMax", "RandomizationFactor", "MaxReconnectAttempts",
		"ReadLimit", "MaxAttachments", "Compression", "Logger"}
	namespaceFields = []string{"Namespace", "Auth", "ReconnectOnServerDisconnect", "MaxBufferedBytes",
		"SlowConsumer", "VolatileEvents", "EmitBufferCount", "EmitBufferBytes", "MaxPendingAcks", "Retries",
		"AckTimeout"}
)

// withField returns Options with only the field name set to a value that
// is not its zero.
func withField(t *testing.T, name string) Options {
	t.Helper()
	var o Options
	f := reflect.ValueOf(&o).Elem().FieldByName(name)
	switch f.Kind() {
	case reflect.String:
		f.SetString("/x")
	case reflect.Bool:
		f.SetBool(true)
	case reflect.Int, reflect.Int64:
		f.SetInt(1)
	case reflect.Uint8:
		f.SetUint(1)
	case reflect.Float64:
		f.SetFloat(0.25)
	case reflect.Pointer:
		f.Set(reflect.New(f.Type().Elem()))
	case reflect.Func:
		f.Set(reflect.MakeFunc(f.Type(), func([]reflect.Value) []reflect.Value { return nil }))
	case reflect.Interface:
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		f.Set(reflect.ValueOf(jar))
	default:
		t.Fatalf("field %s of kind %v: teach withField to set it", name, f.Kind())
	}
	return o
}

// TestOptionFieldsHaveOnePlace: every field of Options is a connection
// field or a namespace field, never both; the half it belongs to keeps it
// when Dial splits the Options, and the other half's constructor rejects
// it with an error that names it and matches ErrOptions.
func TestOptionFieldsHaveOnePlace(t *testing.T) {
	typ := reflect.TypeFor[Options]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		t.Run(name, func(t *testing.T) {
			conn := slices.Contains(connectionFields, name)
			ns := slices.Contains(namespaceFields, name)
			if conn == ns {
				t.Fatalf("%s is listed as a connection field: %v, as a namespace field: %v; want exactly one", name, conn, ns)
			}
			o := withField(t, name)
			want := []string{name}
			if got := o.setFields(conn); !slices.Equal(got, want) {
				t.Errorf("setFields(%v) = %v, want %v", conn, got, want)
			}
			if got := o.setFields(!conn); len(got) != 0 {
				t.Errorf("setFields(%v) = %v, want none", !conn, got)
			}
			kept := func(p Options) bool { return !reflect.ValueOf(p).FieldByName(name).IsZero() }
			if kept(o.connPart()) != conn || kept(o.streamPart()) != ns {
				t.Errorf("connPart keeps it: %v, streamPart keeps it: %v", kept(o.connPart()), kept(o.streamPart()))
			}
			accept, reject := o.checkConn, o.checkStream
			where := "Manager.Dial"
			if ns {
				accept, reject, where = o.checkStream, o.checkConn, "NewManager"
			}
			if err := accept(); err != nil {
				t.Errorf("rejected where it belongs: %v", err)
			}
			err := reject()
			if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), where) {
				t.Errorf("given where it has no effect: %v; want ErrOptions naming %s and %s", err, name, where)
			}
		})
	}
}

// TestMisplacedFieldsNamed: every misplaced field is named, and the error
// says where they belong.
func TestMisplacedFieldsNamed(t *testing.T) {
	cases := []struct {
		name  string
		check func(Options) error
		o     Options
		want  []string
	}{
		{name: "no field", check: Options.checkConn},
		{name: "connection fields to NewManager", check: Options.checkConn, o: Options{Path: "/p", ReadLimit: 1}},
		{name: "namespace fields to Manager.Dial", check: Options.checkStream, o: Options{Namespace: "/n", Retries: 1}},
		{name: "namespace fields to NewManager", check: Options.checkConn,
			o:    Options{Namespace: "/n", MaxBufferedBytes: 1, AckTimeout: time.Second},
			want: []string{"NewManager: Namespace, MaxBufferedBytes, AckTimeout", "give them to Manager.Dial"}},
		{name: "connection fields to Manager.Dial", check: Options.checkStream,
			o:    Options{ConnectTimeout: time.Second, Compression: true, Logger: slog.Default()},
			want: []string{"Manager.Dial: ConnectTimeout, Compression, Logger", "give them to NewManager"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(tc.o)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if !errors.Is(err, ErrOptions) {
				t.Fatalf("error %v does not match ErrOptions", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestManagerRejectsMisplacedFields: NewManager and Manager.Dial refuse a
// field of the other half before anything is dialled.
func TestManagerRejectsMisplacedFields(t *testing.T) {
	if _, err := NewManager("http://127.0.0.1:1", Options{Namespace: "/chat"}); !errors.Is(err, ErrOptions) {
		t.Fatalf("NewManager with a namespace field: %v", err)
	}
	m, err := NewManager("http://127.0.0.1:1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Dial(context.Background(), Options{ReadLimit: 1 << 10}); !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), "ReadLimit") {
		t.Fatalf("Manager.Dial with a connection field: %v", err)
	}
}

func TestWithDefaults(t *testing.T) {
	d := Options{}.withDefaults()
	zero := []struct {
		field     string
		got, want any
	}{
		{"Namespace", d.Namespace, "/"},
		{"ConnectTimeout", d.ConnectTimeout, 20 * time.Second},
		{"WriteTimeout", d.WriteTimeout, 10 * time.Second},
		{"ReconnectDelay", d.ReconnectDelay, time.Second},
		{"ReconnectDelayMax", d.ReconnectDelayMax, 5 * time.Second},
		{"RandomizationFactor", d.RandomizationFactor, 0.5},
		{"ReadLimit", d.ReadLimit, int64(0)},
		{"MaxAttachments", d.MaxAttachments, 10},
		{"MaxBufferedBytes", d.MaxBufferedBytes, 32 << 20},
		{"EmitBufferCount", d.EmitBufferCount, 1024},
		{"EmitBufferBytes", d.EmitBufferBytes, 16 << 20},
		{"MaxPendingAcks", d.MaxPendingAcks, 4096},
		{"AckTimeout", d.AckTimeout, 10 * time.Second},
		{"Retries", d.Retries, 0},
		{"SlowConsumer", d.SlowConsumer, BlockSlowConsumer},
	}
	for _, z := range zero {
		if z.got != z.want {
			t.Errorf("zero %s: %v, want %v", z.field, z.got, z.want)
		}
	}
	if d.Logger == nil {
		t.Errorf("zero Logger: nil, want one that discards")
	}

	cases := []struct {
		name  string
		in    Options
		check func(Options) bool
	}{
		{"namespace without slash", Options{Namespace: "chat"}, func(o Options) bool { return o.Namespace == "/chat" }},
		{"namespace with slash", Options{Namespace: "/chat"}, func(o Options) bool { return o.Namespace == "/chat" }},
		{"negative durations take the defaults", Options{ConnectTimeout: -1, WriteTimeout: -1, ReconnectDelay: -1, ReconnectDelayMax: -1, AckTimeout: -1},
			func(o Options) bool {
				return o.ConnectTimeout == d.ConnectTimeout && o.WriteTimeout == d.WriteTimeout && o.ReconnectDelay == d.ReconnectDelay &&
					o.ReconnectDelayMax == d.ReconnectDelayMax && o.AckTimeout == d.AckTimeout
			}},
		{"negative factor means no jitter", Options{RandomizationFactor: -1}, func(o Options) bool { return o.RandomizationFactor == -1 }},
		{"factor kept", Options{RandomizationFactor: 0.2}, func(o Options) bool { return o.RandomizationFactor == 0.2 }},
		{"negative ReadLimit means the server's", Options{ReadLimit: -5}, func(o Options) bool { return o.ReadLimit == 0 }},
		{"negative EmitBufferCount turns buffering off", Options{EmitBufferCount: -1}, func(o Options) bool { return o.EmitBufferCount == -1 }},
		{"values kept", Options{ConnectTimeout: time.Second, MaxBufferedBytes: 7, MaxPendingAcks: 3, Retries: 2},
			func(o Options) bool {
				return o.ConnectTimeout == time.Second && o.MaxBufferedBytes == 7 && o.MaxPendingAcks == 3 && o.Retries == 2
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.in
			if got := tc.in.withDefaults(); !tc.check(got) {
				t.Errorf("withDefaults(%+v) = %+v", tc.in, got)
			}
			if !reflect.DeepEqual(tc.in, before) {
				t.Errorf("the caller's Options changed: %+v, was %+v", tc.in, before)
			}
		})
	}
}

func TestEventChanCap(t *testing.T) {
	const mib = 1 << 20
	per := func(limit int) int { return limit + eventBytes } // the budget one event of ReadLimit bytes takes
	cases := []struct {
		name      string
		budget    int
		readLimit int64
		want      int
	}{
		{name: "defaults: 32 MiB for messages of 1 MiB", budget: 32 * mib, want: maxEventChan},
		{name: "ReadLimit zero plans for 1 MiB", budget: 4 * per(mib), want: 4},
		{name: "room for two events", budget: 2 * per(1000), readLimit: 1000, want: 2},
		{name: "just short of two", budget: 2*per(1000) - 1, readLimit: 1000, want: 1},
		{name: "at most maxEventChan", budget: 32 * mib, readLimit: 1 << 10, want: maxEventChan},
		{name: "at least one", budget: 1 << 10, readLimit: 32 * mib, want: 1},
		{name: "negative budget", budget: -1, want: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := eventChanCap(Options{MaxBufferedBytes: tc.budget, ReadLimit: tc.readLimit}); got != tc.want {
				t.Fatalf("eventChanCap(MaxBufferedBytes %d, ReadLimit %d) = %d, want %d", tc.budget, tc.readLimit, got, tc.want)
			}
		})
	}
}
