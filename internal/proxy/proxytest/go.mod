module github.com/siostream/siostream/internal/proxy/proxytest

go 1.26.0

replace github.com/siostream/siostream => ../../..

require (
	github.com/armon/go-socks5 v0.0.0-20160902184237-e75332964ef5
	github.com/elazarl/goproxy v1.9.4
	github.com/siostream/siostream v0.0.0
	go.uber.org/goleak v1.3.0
	golang.org/x/net v0.62.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/ws v1.5.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
