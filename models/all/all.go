// Package all links every architecture into the models registry. Import it
// for its side effect wherever models.Load or models.Check is called:
//
//	import _ "github.com/cellm-ai/cellm-go/models/all"
//
// A new architecture adds its blank import here.
package all

import (
	_ "github.com/cellm-ai/cellm-go/models/idefics3" // idefics3, smolvlm (registers llama too)
	_ "github.com/cellm-ai/cellm-go/models/llama"    // llama
)
