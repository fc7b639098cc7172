// Package proxytest runs internal/proxy against real proxy servers:
// github.com/elazarl/goproxy for HTTP CONNECT (behind TLS for https://)
// and github.com/armon/go-socks5 for SOCKS5. It is a module of its own so
// that those servers and their dependencies stay out of the SDK's go.mod;
// it has no code outside its tests. Run it from this directory:
//
//	go test -race ./...
package proxytest
