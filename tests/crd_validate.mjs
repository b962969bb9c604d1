// Validates custom resources against their upstream CRD schemas, as shipped by the pinned
// @kubernetes-models packages (package.json). Reads {"package": ..., "documents": [...]} on stdin;
// prints one JSON line per document: {"index": i, "error": null | "..."}. A package that is not installed
// is no verdict on a document: it exits 2 (and the test's result cache keeps nothing).
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
    if (error.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("Cannot find package")) {
      console.error(error.message);
      process.exit(2);
    }
    results.push({ index, error: String(error.message ?? error) });
  }
}
console.log(JSON.stringify(results));
