// Validates custom resources against their upstream CRD schemas, as shipped by the pinned
// @kubernetes-models packages (package.json). Reads {"package": ..., "documents": [...]} on stdin;
// prints one JSON line per document: {"index": i, "error": null | "..."}.
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const [index, doc] of input.documents.entries()) {
  const [group, version] = doc.apiVersion.split("/");
  try {
    const module = await import(`${input.package}/${group}/${version}`);
    const Model = module[doc.kind];
    if (!Model) throw new Error(`${input.package} has no ${doc.kind} in ${doc.apiVersion}`);
    new Model(doc).validate();
    results.push({ index, error: null });
  } catch (error) {
    results.push({ index, error: String(error.message ?? error) });
  }
}
console.log(JSON.stringify(results));
