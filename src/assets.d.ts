// Files embedded with `import path from "…" with { type: "file" }`.
declare module "*.o" {
  const path: string;
  export default path;
}
declare module "*.c" {
  const path: string;
  export default path;
}
declare module "*.h" {
  const path: string;
  export default path;
}
