// The API reference: Swagger UI over /openapi.json. The dashboard's token
// (when one was given there) goes with the document's request and with
// "Try it out"; the Authorize button sets another.
(function () {
  var token = localStorage.getItem("tasker_token") || "";
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false,
    requestInterceptor: function (req) {
      if (token && !req.headers.Authorization) req.headers.Authorization = "Bearer " + token;
      return req;
    },
  });
})();
