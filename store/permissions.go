package store

import (
	"fmt"
)

// Operation names an API operation by its operationId in openapi/openapi.yaml. A few operations
// answer differently with a parameter; those variants have their own entries (see opGetPanelRowsOfView).
type Operation string

// Scope is the resource an operation's requirement is checked on.
type Scope int

// The scopes of the permission table.
const (
	// OnNothing: a system route; no caller, no tenant data.
	OnNothing Scope = iota
	// OnTenant: any member of the tenant; a list answers only the rows the caller may read.
	OnTenant
	// OnRole: the caller's role decides (creating panels).
	OnRole
	// OnSelf: the caller's own rows (notifications, its ACL rows; an admin may name anyone).
	OnSelf
	// OnPanel: the panel the path names, or the panel of the data source or column it names.
	OnPanel
	// OnView: the view the path names.
	OnView
	// OnACLTarget: the panel or view an ACL route names. Changes that grant, change or revoke
	// owner need owner instead of Level (ownerRule).
	OnACLTarget
)

// Requirement is what one operation needs: a permission level on one resource. Visible is the
// level below which the resource does not exist for the caller (404); between Visible and Level
// it is visible but the operation is not allowed (403).
type Requirement struct {
	On      Scope
	Visible Permission
	Level   Permission
}

// The operations whose answer depends on a parameter have a second entry for the variant.
const (
	// opGetPanelRowsOfView is getPanelRows with a viewId: the view's visible columns only.
	opGetPanelRowsOfView Operation = "getPanelRows?viewId"
	// opGetPanelRowsCSVOfView is the CSV export with a viewId, as opGetPanelRowsOfView.
	opGetPanelRowsCSVOfView Operation = "getPanelRowsCSV?viewId"
	// opGetPanelRowGroupsOfView is the group counts with a viewId, as opGetPanelRowsOfView.
	opGetPanelRowGroupsOfView Operation = "getPanelRowGroups?viewId"
	// opListPanelChangesOfPanel is listPanelChanges with a panelId: one panel's history.
	opListPanelChangesOfPanel Operation = "listPanelChanges?panelId"
)

var (
	// panelRead is reading the panel itself: a view reader sees its name and description.
	panelRead = Requirement{On: OnPanel, Visible: PermViewReader, Level: PermViewReader}
	// panelPartRead is reading what a view reader never sees: sources, syncs, history, all rows.
	panelPartRead = Requirement{On: OnPanel, Visible: PermViewer, Level: PermViewer}
	// panelEdit is changing the panel or adding to it: the panel is visible to a view reader.
	panelEdit = Requirement{On: OnPanel, Visible: PermViewReader, Level: PermEditor}
	// panelPartEdit is changing a data source, which a view reader cannot see.
	panelPartEdit = Requirement{On: OnPanel, Visible: PermViewer, Level: PermEditor}
	viewRead      = Requirement{On: OnView, Visible: PermViewReader, Level: PermViewReader}
	viewEdit      = Requirement{On: OnView, Visible: PermViewReader, Level: PermEditor}
	// aclRead and aclEdit: ACL rows are invisible to a view reader (published views included).
	aclRead = Requirement{On: OnACLTarget, Visible: PermViewer, Level: PermViewer}
	aclEdit = Requirement{On: OnACLTarget, Visible: PermViewer, Level: PermEditor}
	// webhookEdit is managing a panel's webhook (named by its id; the scope is its panel).
	webhookEdit = Requirement{On: OnPanel, Visible: PermViewer, Level: PermEditor}
	tenant      = Requirement{On: OnTenant}
	self        = Requirement{On: OnSelf}
	system      = Requirement{On: OnNothing}
	buildRole   = Requirement{On: OnRole}
)

// Permissions is the permission table (docs/permissions.md): every operation of the spec, and every
// variant above, maps to one requirement. The store enforces it (authorize) in the method that
// serves the operation; a test checks that the spec's operations and this table agree.
var Permissions = map[Operation]Requirement{
	"listPanels":  tenant,
	"createPanel": buildRole,
	"getPanel":    panelRead,
	"updatePanel": panelEdit,
	"deletePanel": {On: OnPanel, Visible: PermViewReader, Level: PermOwner},

	"listDataSources":       panelPartRead,
	"createDataSource":      panelEdit,
	"getDataSource":         panelPartRead,
	"updateDataSource":      panelPartEdit,
	"deleteDataSource":      panelPartEdit,
	"updatePanelDataSource": panelPartEdit,
	"deletePanelDataSource": panelPartEdit,
	"syncDataSource":        panelPartEdit,
	"syncPanelDataSource":   panelPartEdit,
	"listDataSourceSyncs":   panelPartRead,
	"uploadDataSourceFile":  panelPartEdit,
	"pushDataSourceRecords": panelPartEdit,

	"getPanelRows":            panelPartRead,
	opGetPanelRowsOfView:      viewRead,
	"getPanelRowsCSV":         panelPartRead,
	opGetPanelRowsCSVOfView:   viewRead,
	"getPanelRowGroups":       panelPartRead,
	opGetPanelRowGroupsOfView: viewRead,

	// A view reader lists and reads the definitions of the columns its views show, no others.
	"listColumns":            panelRead,
	"getColumn":              panelRead,
	"createBaseColumn":       panelEdit,
	"createCalculatedColumn": panelEdit,
	"updateColumn":           panelEdit,
	"deleteColumn":           panelEdit,

	"listViews":          tenant,
	"createView":         {On: OnPanel, Visible: PermViewReader, Level: PermViewer},
	"getView":            viewRead,
	"updateView":         viewEdit,
	"deleteView":         viewEdit,
	"getViewSorts":       viewRead,
	"replaceViewSorts":   viewEdit,
	"getViewFilters":     viewRead,
	"replaceViewFilters": viewEdit,
	"publishView":        viewEdit,
	"unpublishView":      viewEdit,

	"listUserAcls":   self,
	"listAcls":       aclRead,
	"createAcl":      aclEdit,
	"shareAclPublic": aclEdit,
	"updateAcl":      aclEdit,
	"deleteAcl":      aclEdit,

	"listOrganizationMembers": tenant,
	"listPanelChanges":        tenant,
	opListPanelChangesOfPanel: panelPartRead,
	"listViewNotifications":   self,
	// The stream filters each event as the lists above do: changes by listPanelChanges, notifications by listViewNotifications.
	"streamEvents":              tenant,
	"markViewNotificationsRead": self,

	// A panel's webhooks need editor on it and are invisible below viewer, like its data sources;
	// tenant-wide ones (no panel) need the admin role, which the store checks (webhookAccess).
	"listWebhooks":             tenant,
	"createWebhook":            panelEdit,
	"getWebhook":               webhookEdit,
	"updateWebhook":            webhookEdit,
	"deleteWebhook":            webhookEdit,
	"listWebhookDeliveries":    webhookEdit,
	"redeliverWebhookDelivery": webhookEdit,

	"getHealth":      system,
	"getReadiness":   system,
	"getLiveness":    system,
	"getDocs":        system,
	"getDocsAsset":   system,
	"getOpenAPIYAML": system,
	"getOpenAPIJSON": system,
	"getMetrics":     system,
}

// ForbiddenError is the one refusal of a visible resource (403): the operation needs more than
// the caller has.
type ForbiddenError struct {
	Message string
}

func (e *ForbiddenError) Error() string { return e.Message }
func (e *ForbiddenError) Unwrap() error { return ErrForbidden }

// Forbidden builds the ForbiddenError of a refusal that is not about a resource level, such as a
// role or an identity assertion.
func Forbidden(format string, args ...any) error {
	return &ForbiddenError{Message: fmt.Sprintf(format, args...)}
}

// authorize applies op's requirement to the caller's level on its resource (what names it in
// errors): ErrNotFound below Visible, ForbiddenError below Level.
func authorize(op Operation, level Permission, what string) error {
	req, ok := Permissions[op]
	if !ok || (req.On != OnPanel && req.On != OnView && req.On != OnACLTarget) {
		// A programming error, never a request's: fail closed.
		return fmt.Errorf("operation %q has no resource requirement in the permission table", op)
	}
	return need(req.Visible, req.Level, level, string(op), what)
}

// need is authorize for an explicit pair of levels (the owner rule of ACL changes raises Level).
func need(visible, min, level Permission, action, what string) error {
	if level < visible {
		return notFound(what)
	}
	if level < min {
		return &ForbiddenError{Message: fmt.Sprintf("%s needs %s permission on the %s; you have %s", action, min, what, level)}
	}
	return nil
}
