module github.com/kizuna-hpc/kizuna

go 1.26.8

require (
	github.com/cloudwego/netpoll v0.7.2
	github.com/vmihailenco/msgpack/v5 v5.4.1
	github.com/x448/float16 v0.8.4
	go.uber.org/goleak v1.3.0
)

require (
	github.com/bytedance/gopkg v0.1.1 // indirect
	github.com/cloudwego/gopkg v0.1.4 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)
