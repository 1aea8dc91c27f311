package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	client "github.com/panels/panels/clients/go"
)

// bearer is a RequestEditorFn that authenticates every request with a JWT.
func bearer(token string) client.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

// Authenticate once, when building the client: every call then carries the token.
func Example_authentication() {
	api, err := client.NewClientWithResponses(serverURL, client.WithRequestEditorFn(bearer(devToken)))
	if err != nil {
		log.Fatal(err)
	}
	resp, err := api.ListPanelsWithResponse(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode())

	// Without a token the service answers 401 with a problem body.
	anonymous, err := client.NewClientWithResponses(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	resp, err = anonymous.ListPanelsWithResponse(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode(), resp.ApplicationproblemJSON401.Title)
	// Output:
	// 200
	// 401 Unauthorized
}

// Create a panel, then list the panels the caller can read.
func ExampleClientWithResponses_CreatePanelWithResponse() {
	ctx := context.Background()
	api, err := client.NewClientWithResponses(serverURL, client.WithRequestEditorFn(bearer(devToken)))
	if err != nil {
		log.Fatal(err)
	}
	metadata := client.Metadata{"color": "blue"}
	created, err := api.CreatePanelWithResponse(ctx, nil, client.PanelCreate{Name: "Diabetes follow-up", Metadata: &metadata})
	if err != nil {
		log.Fatal(err)
	}
	if created.JSON201 == nil {
		log.Fatalf("create panel: %d %s", created.StatusCode(), created.Body)
	}
	panel := created.JSON201
	fmt.Println(created.StatusCode(), panel.Name, panel.CohortRule.Logic)
	fmt.Println("Location:", created.HTTPResponse.Header.Get("Location") == fmt.Sprintf("/api/panels/%d", panel.Id))

	limit := 50
	list, err := api.ListPanelsWithResponse(ctx, &client.ListPanelsParams{Limit: &limit})
	if err != nil {
		log.Fatal(err)
	}
	if list.JSON200 == nil {
		log.Fatalf("list panels: %d %s", list.StatusCode(), list.Body)
	}
	for _, p := range *list.JSON200 {
		if p.Id == panel.Id {
			fmt.Println("listed:", p.Name)
		}
	}
	// Output:
	// 201 Diabetes follow-up AND
	// Location: true
	// listed: Diabetes follow-up
}

// Every error answer is an RFC 9457 problem, decoded into the ApplicationproblemJSON<status>
// field of the operation's response.
func ExampleClientWithResponses_GetPanelWithResponse_notFound() {
	ctx := context.Background()
	api, err := client.NewClientWithResponses(serverURL, client.WithRequestEditorFn(bearer(devToken)))
	if err != nil {
		log.Fatal(err)
	}
	resp, err := api.GetPanelWithResponse(ctx, 987654321, nil)
	if err != nil {
		log.Fatal(err) // transport failures only: HTTP errors come back as responses
	}
	switch {
	case resp.JSON200 != nil:
		fmt.Println("found", resp.JSON200.Name)
	case resp.ApplicationproblemJSON404 != nil:
		p := resp.ApplicationproblemJSON404
		fmt.Println(p.Status, p.Title+":", p.Detail)
		fmt.Println("request id echoed:", p.RequestId == resp.HTTPResponse.Header.Get("X-Request-Id"))
	default:
		fmt.Println("unexpected status", resp.StatusCode())
	}
	// Output:
	// 404 Not Found: Panel not found
	// request id echoed: true
}

// A 400 lists one entry per offending field.
func ExampleClientWithResponses_CreatePanelWithResponse_validation() {
	api, err := client.NewClientWithResponses(serverURL, client.WithRequestEditorFn(bearer(devToken)))
	if err != nil {
		log.Fatal(err)
	}
	resp, err := api.CreatePanelWithResponse(context.Background(), nil, client.PanelCreate{Name: ""})
	if err != nil {
		log.Fatal(err)
	}
	if p := resp.ApplicationproblemJSON400; p != nil {
		for _, e := range p.Errors {
			fmt.Println(e.Field+":", e.Reason)
		}
	}
	// Output:
	// body.name: minimum string length is 1
}
