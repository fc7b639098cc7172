package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestSelectRequest(t *testing.T) {
	tests := []struct {
		target string
		want   string // the URL the chooser sees
	}{
		{"ws://chat.example.test/socket.io/?EIO=4&transport=websocket", "http://chat.example.test/socket.io/?EIO=4&transport=websocket"},
		{"wss://chat.example.test:8443/socket.io/", "https://chat.example.test:8443/socket.io/"},
		{"WSS://chat.example.test", "https://chat.example.test"},
		{"http://chat.example.test", "http://chat.example.test"},
		{"https://chat.example.test", "https://chat.example.test"},
	}
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	proxyURL := &url.URL{Scheme: "http", Host: "proxy.test:3128"}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			target, err := url.Parse(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			before := target.String()
			var seen *http.Request
			got, err := Select(ctx, target, func(r *http.Request) (*url.URL, error) {
				seen = r
				return proxyURL, nil
			})
			if err != nil || got != proxyURL {
				t.Fatalf("Select = %v, %v; want the chooser's URL", got, err)
			}
			if seen.URL.String() != tt.want || seen.Host != seen.URL.Host || seen.Method != http.MethodGet {
				t.Errorf("chooser saw %s %s (Host %s), want GET %s", seen.Method, seen.URL, seen.Host, tt.want)
			}
			if seen.Context().Value(key{}) != "v" {
				t.Error("chooser's request does not carry ctx")
			}
			if target.String() != before {
				t.Errorf("target changed to %s", target)
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	none := func(*http.Request) (*url.URL, error) { return nil, nil }
	tests := []struct {
		target string
		choose func(*http.Request) (*url.URL, error)
		want   string
	}{
		{"ftp://files.example.test", none, `scheme "ftp"`},
		{"ws:///socket.io/", none, "without a host"},
		{
			"wss://chat.example.test/socket.io/?token=hunter2",
			func(*http.Request) (*url.URL, error) { return nil, errors.New("bad proxy config") },
			"choosing the proxy for https://chat.example.test: bad proxy config",
		},
	}
	for _, tt := range tests {
		target, err := url.Parse(tt.target)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Select(context.Background(), target, tt.choose)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Select(%s) = %v, want an error saying %q without the query", tt.target, err, tt.want)
		}
	}
}

// The environment of TestFromEnvironmentChild. The names resolve nowhere:
// selection sends no traffic.
var proxyEnv = map[string]string{
	"HTTP_PROXY":  "http://plain.proxy.test:3128",
	"HTTPS_PROXY": "https://alice:s3cret@secure.proxy.test:3129",
	"NO_PROXY":    "bypass.test,.internal.test,port.test:8443",
}

// TestFromEnvironment runs TestFromEnvironmentChild in a fresh process with
// proxyEnv as its only proxy settings: http.ProxyFromEnvironment reads the
// environment once per process, so it cannot be changed within this one.
func TestFromEnvironment(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestFromEnvironmentChild$", "-test.count=1", "-test.v")
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "REQUEST_METHOD":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	for k, v := range proxyEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "SIOSTREAM_PROXY_ENV_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestFromEnvironmentChild") {
		t.Fatalf("child process: %v\n%s", err, out)
	}
}

func TestFromEnvironmentChild(t *testing.T) {
	if os.Getenv("SIOSTREAM_PROXY_ENV_CHILD") != "1" {
		t.Skip("run by TestFromEnvironment in a process of its own")
	}
	for k, v := range proxyEnv {
		if os.Getenv(k) != v {
			t.Fatalf("%s=%q, want %q", k, os.Getenv(k), v)
		}
	}
	tests := []struct {
		target string
		want   string // "" for no proxy
	}{
		{"ws://chat.example.test/socket.io/", "http://plain.proxy.test:3128"},
		{"wss://chat.example.test/socket.io/", "https://alice:s3cret@secure.proxy.test:3129"},
		{"http://chat.example.test/", "http://plain.proxy.test:3128"},
		{"https://chat.example.test/", "https://alice:s3cret@secure.proxy.test:3129"},
		{"wss://bypass.test/socket.io/", ""},
		{"ws://bypass.test:8080/", ""},
		{"wss://not-bypass.test/", "https://alice:s3cret@secure.proxy.test:3129"},
		{"ws://api.internal.test:8080/", ""},
		{"wss://deep.api.internal.test/", ""},
		{"wss://port.test:8443/", ""},
		{"wss://port.test/", "https://alice:s3cret@secure.proxy.test:3129"},
		{"ws://localhost:3000/", ""},
		{"ws://127.0.0.1:3000/", ""},
	}
	for _, tt := range tests {
		target, err := url.Parse(tt.target)
		if err != nil {
			t.Fatal(err)
		}
		got, err := FromEnvironment(target)
		if err != nil {
			t.Errorf("FromEnvironment(%s): %v", tt.target, err)
			continue
		}
		if s := urlString(got); s != tt.want {
			t.Errorf("FromEnvironment(%s) = %q, want %q", tt.target, s, tt.want)
		}
	}
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}
