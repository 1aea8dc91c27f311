// Boots Swagger UI on the spec the service validates against. Kept out of index.html so the
// page needs no inline script.
window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: true,
  });
});
