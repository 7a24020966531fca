// Puts Swagger UI (from the swagger-ui-dist package) beside the API
// reference page that public/docs/ holds, in the build's output folder.
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const from = require("swagger-ui-dist").getAbsoluteFSPath();
const out = join(process.env.TASKER_WEB_OUT ?? "dist", "docs");
mkdirSync(out, { recursive: true });
for (const name of ["swagger-ui-bundle.js", "swagger-ui-bundle.js.LICENSE.txt", "swagger-ui.css"])
  copyFileSync(join(from, name), join(out, name));
