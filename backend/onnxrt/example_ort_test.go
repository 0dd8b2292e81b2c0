//go:build onnxruntime

package onnxrt_test

import (
	"fmt"
	"log"

	"github.com/cellm-ai/cellm-go/backend/onnxrt"
)

// A greedy decode of a text prompt through the embedder and the decoder
// (library from CELLM_ONNXRUNTIME_LIB). For an image prompt, run the
// VisionEncoder and idefics3.Splice before the first Step.
func Example_greedy() {
	o := onnxrt.Options{} // library from CELLM_ONNXRUNTIME_LIB
	_, embedPath, decoderPath, err := onnxrt.FindFiles("../../testdata/smolvlm-tiny", "fp32")
	if err != nil {
		log.Fatal(err)
	}
	embed, err := onnxrt.OpenEmbedder(embedPath, o)
	if err != nil {
		log.Fatal(err)
	}
	defer embed.Close()
	dec, err := onnxrt.OpenDecoder(decoderPath, o)
	if err != nil {
		log.Fatal(err)
	}
	defer dec.Close()

	prompt := []int64{1, 15064, 28}
	emb, err := embed.Embed(prompt)
	if err != nil {
		log.Fatal(err)
	}
	logits, err := dec.Step(emb, len(prompt)) // prefill
	if err != nil {
		log.Fatal(err)
	}
	for range 8 {
		tok := int64(0)
		for i, v := range logits {
			if v > logits[tok] {
				tok = int64(i)
			}
		}
		fmt.Print(tok, " ")
		if emb, err = embed.Embed([]int64{tok}); err != nil {
			log.Fatal(err)
		}
		if logits, err = dec.Step(emb, 1); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println()
}
