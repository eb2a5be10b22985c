// Type-checked with `tsc --strict` against the types openapi-typescript generates from the
// running service's document (tests/test_contract.py). The README's example is this file.
import createClient from "openapi-fetch";
import type { components, paths } from "./attache";

type Envelope = components["schemas"]["AssessmentEnvelope"];
type Problem = components["schemas"]["Problem"];

// JSON answers only (application/json and problem+json): the Markdown view is for people.
const attache = createClient<paths, `${string}/${string}json`>({
  baseUrl: "http://127.0.0.1:8000",
  headers: { Authorization: "Bearer <key>" },
});

export async function assess(context: string): Promise<Envelope | Problem | undefined> {
  const { data, error } = await attache.POST("/assess", {
    body: { agent: "jp-01@stable", context },
    params: { header: { "Idempotency-Key": "order-4711" } },
  });
  if (error) return error; // RFC 9457 problem details: branch on error.code
  if (!("assessment" in data)) return undefined; // 202 pending: only with Prefer: respond-async
  const horizons: string[] = data.assessment.outlook.map((forecast) => forecast.horizon);
  console.log(data.assessment.title, horizons, data.prompt.sha256);
  return data;
}

export async function kept(id: string): Promise<string | undefined> {
  const { data } = await attache.GET("/assessments/{assessment_id}", { params: { path: { assessment_id: id } } });
  return data && "assessment" in data ? data.assessment.bottom_line : undefined;
}
