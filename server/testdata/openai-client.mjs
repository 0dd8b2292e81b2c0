// Runs the official openai npm client against a running `cellm serve`:
// a non-streamed chat, a streamed chat (with usage), and an image question.
// Usage: BASE_URL=http://127.0.0.1:PORT/v1 TEXT_MODEL=micro VLM_MODEL=vlm IMAGE=red.png node openai-client.mjs
import OpenAI from "openai";
import { readFileSync } from "node:fs";

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY || "none" });
const fail = (msg) => { console.error("FAIL:", msg); process.exit(1); };

const models = await client.models.list();
const ids = models.data.map((m) => m.id);
if (!ids.includes(process.env.TEXT_MODEL)) fail(`models ${ids}`);

const messages = [{ role: "user", content: "What is a class?" }];
const plain = await client.chat.completions.create({ model: process.env.TEXT_MODEL, messages, max_tokens: 16, temperature: 0 });
const text = plain.choices[0].message.content;
if (!text || plain.usage.completion_tokens < 1 || !["stop", "length"].includes(plain.choices[0].finish_reason)) fail(JSON.stringify(plain));
console.log("non-stream:", JSON.stringify(text), plain.usage);

const stream = await client.chat.completions.create({ model: process.env.TEXT_MODEL, messages, max_tokens: 16,
  temperature: 0, stream: true, stream_options: { include_usage: true } });
let streamed = "", usage = null;
for await (const chunk of stream) {
  for (const c of chunk.choices) streamed += c.delta?.content ?? "";
  if (chunk.usage) usage = chunk.usage;
}
if (streamed !== text) fail(`stream ${JSON.stringify(streamed)} != non-stream ${JSON.stringify(text)}`);
if (!usage || usage.completion_tokens !== plain.usage.completion_tokens) fail(`stream usage ${JSON.stringify(usage)}`);
console.log("stream: same text, usage", usage);

const image = readFileSync(process.env.IMAGE).toString("base64");
const vision = await client.chat.completions.create({ model: process.env.VLM_MODEL, max_tokens: 8, temperature: 0,
  messages: [{ role: "user", content: [
    { type: "image_url", image_url: { url: `data:image/png;base64,${image}` } },
    { type: "text", text: "What color is it?" }] }] });
if (!vision.choices[0].message.content || vision.usage.prompt_tokens < 20) fail(JSON.stringify(vision));
console.log("image:", JSON.stringify(vision.choices[0].message.content), vision.usage);

try {
  await client.chat.completions.create({ model: "no-such-model", messages });
  fail("unknown model accepted");
} catch (err) {
  if (err.status !== 404) fail(`unknown model: ${err}`);
  console.log("unknown model: 404", err.message);
}
console.log("openai client: OK");
