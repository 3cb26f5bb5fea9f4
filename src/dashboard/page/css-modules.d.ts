// Stylesheets are bundled by esbuild; the page imports them for their effect only.
declare module '*.css';
