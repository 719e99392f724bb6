// The app's storage account: AzureWebJobsStorage for the Functions host, the app's tables,
// queues and blobs, and the Flex deployment package. Entra ID only (no shared keys).

param location string
param name string
@description('Principal id of the app identity that gets the data-plane roles.')
param appPrincipalId string
param skuName string
param enrollmentContainerName string
param deploymentContainerName string
param deadLetterContainerName string
param tags object

// Built-in role ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
var appRoles = {
  // The Functions host keeps leases, keys and the deployment package in blobs; Owner is what the
  // Flex docs require for identity-based AzureWebJobsStorage.
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:No VNet in this template; the Flex app and Event Grid reach storage over its public endpoint, guarded by Entra ID (shared keys are off).
  //checkov:skip=CKV_AZURE_59:Same reason: public network access is needed without VNet integration; every request needs an Entra ID token.
  //checkov:skip=CKV_AZURE_206:Replication is the storageSku parameter (LRS keeps a dev deployment cheap; choose ZRS/GZRS for production).
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: skuName }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

// Tables and queues are created by the app on first use (the data roles allow it), so only the
// containers that must exist before the app runs are declared here: the ones users upload to
// or Event Grid watches (batch redaction reads redaction-input and writes redaction-output).
var redactionContainerNames = ['redaction-input', 'redaction-output']

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for container in concat([deploymentContainerName, enrollmentContainerName, deadLetterContainerName], redactionContainerNames): {
    parent: blobService
    name: container
    properties: { publicAccess: 'None' }
  }
]

resource appRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in items(appRoles): {
    scope: account
    name: guid(account.id, appPrincipalId, role.value)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
