// Key Vault for the API keys (secret created by deploy.sh, never by a template, so no key is
// ever in a template, a parameters file or the deployment history). RBAC authorization only.

param location string
param name string
param softDeleteRetentionInDays int
@description('Principal id of the app identity: reads secrets through the Key Vault reference.')
param appPrincipalId string
@description('Who may write the API key secret (deploy.sh passes the signed-in principal); empty for none.')
param secretsOfficerPrincipalId string
@allowed(['User', 'ServicePrincipal', 'Group'])
param secretsOfficerPrincipalType string
param tags object

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  //checkov:skip=CKV_AZURE_109:No VNet in this template: the Flex app resolves its Key Vault reference and deploy.sh writes the key over the public endpoint; access is Entra ID + RBAC only.
  //checkov:skip=CKV_AZURE_189:Public network access is needed without VNet integration (see CKV_AZURE_109).
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// The app reads secrets; the deployer (if given) writes the API key.
var appRole = { principalId: appPrincipalId, principalType: 'ServicePrincipal', role: keyVaultSecretsUser }
var deployerRole = {
  principalId: secretsOfficerPrincipalId
  principalType: secretsOfficerPrincipalType
  role: keyVaultSecretsOfficer
}
var roleAssignments = empty(secretsOfficerPrincipalId) ? [appRole] : [appRole, deployerRole]

resource roles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for assignment in roleAssignments: {
    scope: vault
    name: guid(vault.id, assignment.principalId, assignment.role)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', assignment.role)
      principalId: assignment.principalId
      principalType: assignment.principalType
    }
  }
]

output name string = vault.name
