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
