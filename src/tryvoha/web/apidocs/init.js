// Starts Swagger UI on this hub's own OpenAPI document. A file, not an inline script, so the
// page's Content-Security-Policy allows scripts from the hub itself and nothing else.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
});
