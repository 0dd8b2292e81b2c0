module github.com/cellm-ai/cellm-go

go 1.26.0

require (
	github.com/ardanlabs/jinja v1.8.0
	golang.org/x/image v0.48.0
	golang.org/x/sys v0.50.0
)

require github.com/yalue/onnxruntime_go v1.28.0

require golang.org/x/text v0.44.0

require golang.org/x/term v0.48.0

require github.com/chromedp/chromedp v0.24.0

require (
	github.com/chromedp/cdproto v0.160.1 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
)
